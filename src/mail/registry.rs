//! The clinic registry (`config/clinics.csv`): `id,name,emails,listed_inhabitants`, where
//! `emails` lists addresses and whole domains (`@ekbacken.vc.test`) separated by `;`.
//!
//! Extra columns are allowed and ignored. Addresses and domains are compared in lower case.
//! A lookup tries the exact address first, then the address's own domain; there is no
//! parent-domain matching (`@ekbacken.vc.test` does not match `x@mail.ekbacken.vc.test`).

use std::collections::HashMap;

/// One primary-care clinic (vårdcentral) as listed in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clinic {
    pub id: String,
    pub name: String,
    /// Exact addresses, lower case.
    pub emails: Vec<String>,
    /// Whole domains (written `@domain` in the file), lower case, without the `@`.
    pub domains: Vec<String>,
    pub listed_inhabitants: u64,
}

/// Why a registry file was rejected. `line` is the 1-based line in the CSV text.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("clinic registry: CSV error: {0}")]
    Csv(#[from] csv::Error),
    #[error("clinic registry: missing column `{0}` in the header")]
    MissingColumn(&'static str),
    #[error("clinic registry line {line}: empty clinic id")]
    EmptyId { line: u64 },
    #[error("clinic registry line {line}: clinic id `{id}` is listed twice")]
    DuplicateId { line: u64, id: String },
    #[error("clinic registry line {line}: `{address}` is claimed by both `{first}` and `{second}`")]
    DuplicateAddress {
        line: u64,
        address: String,
        first: String,
        second: String,
    },
    #[error("clinic registry line {line}: `{value}` is not a valid address or @domain")]
    BadAddress { line: u64, value: String },
    #[error(
        "clinic registry line {line}: listed_inhabitants `{value}` is not a non-negative integer"
    )]
    BadInhabitants { line: u64, value: String },
}

/// The clinics and an index from addresses and domains to clinics.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    clinics: Vec<Clinic>,
    by_address: HashMap<String, usize>,
    by_domain: HashMap<String, usize>,
}

fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && !d.starts_with('.')
        && !d.ends_with('.')
        && !d.contains("..")
        && d.chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.' || c == '_')
}

impl Registry {
    /// Parses the registry CSV text and validates it.
    pub fn from_csv(text: &str) -> Result<Registry, RegistryError> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(false)
            .from_reader(text.as_bytes());
        let headers = reader.headers()?.clone();
        let col = |name: &'static str| {
            headers
                .iter()
                .position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(name))
                .ok_or(RegistryError::MissingColumn(name))
        };
        let (c_id, c_name, c_emails, c_inh) = (
            col("id")?,
            col("name")?,
            col("emails")?,
            col("listed_inhabitants")?,
        );
        let mut reg = Registry::default();
        for record in reader.records() {
            let record = record?;
            let line = record.position().map_or(0, |p| p.line());
            let field = |i: usize| record.get(i).unwrap_or("").trim();
            let id = field(c_id).to_string();
            if id.is_empty() {
                return Err(RegistryError::EmptyId { line });
            }
            if reg.clinics.iter().any(|c| c.id == id) {
                return Err(RegistryError::DuplicateId { line, id });
            }
            let inh_text = field(c_inh);
            let listed_inhabitants: u64 =
                inh_text
                    .parse()
                    .map_err(|_| RegistryError::BadInhabitants {
                        line,
                        value: inh_text.to_string(),
                    })?;
            let index = reg.clinics.len();
            let mut clinic = Clinic {
                id: id.clone(),
                name: field(c_name).to_string(),
                emails: Vec::new(),
                domains: Vec::new(),
                listed_inhabitants,
            };
            for entry in field(c_emails).split(';') {
                let entry = entry.trim().to_lowercase();
                if entry.is_empty() {
                    continue;
                }
                let bad = || RegistryError::BadAddress {
                    line,
                    value: entry.clone(),
                };
                let (map, key) = if let Some(domain) = entry.strip_prefix('@') {
                    if !valid_domain(domain) {
                        return Err(bad());
                    }
                    (&mut reg.by_domain, domain.to_string())
                } else {
                    let (local, domain) = entry.rsplit_once('@').ok_or_else(bad)?;
                    if local.is_empty()
                        || local.contains(char::is_whitespace)
                        || !valid_domain(domain)
                    {
                        return Err(bad());
                    }
                    (&mut reg.by_address, entry.clone())
                };
                if let Some(&other) = map.get(&key) {
                    if other == index {
                        continue; // listed twice by the same clinic: harmless
                    }
                    return Err(RegistryError::DuplicateAddress {
                        line,
                        address: entry.clone(),
                        first: reg.clinics[other].id.clone(),
                        second: id.clone(),
                    });
                }
                map.insert(key.clone(), index);
                if entry.starts_with('@') {
                    clinic.domains.push(key);
                } else {
                    clinic.emails.push(key);
                }
            }
            reg.clinics.push(clinic);
        }
        Ok(reg)
    }

    /// Builds the registry from clinics already validated elsewhere (the ledger's rows):
    /// entries starting with `@` in `emails` are whole domains. Refuses an address or domain
    /// claimed twice (`line` is then the 1-based position of the clinic in `clinics`).
    pub fn from_clinics(clinics: Vec<Clinic>) -> Result<Registry, RegistryError> {
        let mut reg = Registry::default();
        for (index, mut clinic) in clinics.into_iter().enumerate() {
            let entries: Vec<String> = clinic
                .emails
                .drain(..)
                .chain(clinic.domains.drain(..).map(|d| format!("@{d}")))
                .map(|e| e.trim().to_lowercase())
                .collect();
            for entry in entries {
                let (map, key, is_domain) = match entry.strip_prefix('@') {
                    Some(d) => (&mut reg.by_domain, d.to_string(), true),
                    None => (&mut reg.by_address, entry.clone(), false),
                };
                if let Some(&other) = map.get(&key) {
                    if other == index {
                        continue;
                    }
                    return Err(RegistryError::DuplicateAddress {
                        line: index as u64 + 1,
                        address: entry,
                        first: reg.clinics[other].id.clone(),
                        second: clinic.id.clone(),
                    });
                }
                map.insert(key.clone(), index);
                if is_domain {
                    clinic.domains.push(key);
                } else {
                    clinic.emails.push(key);
                }
            }
            reg.clinics.push(clinic);
        }
        Ok(reg)
    }

    /// The clinic for a sender address: exact address first, then the address's domain.
    pub fn lookup(&self, addr: &str) -> Option<&Clinic> {
        let addr = addr
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim()
            .to_lowercase();
        if let Some(&i) = self.by_address.get(&addr) {
            return self.clinics.get(i);
        }
        let (_, domain) = addr.rsplit_once('@')?;
        self.by_domain
            .get(domain.trim_end_matches('.'))
            .and_then(|&i| self.clinics.get(i))
    }

    /// The clinic with this registry id.
    pub fn get(&self, id: &str) -> Option<&Clinic> {
        self.clinics.iter().find(|c| c.id == id)
    }

    /// All clinics, in file order.
    pub fn clinics(&self) -> &[Clinic] {
        &self.clinics
    }

    pub fn len(&self) -> usize {
        self.clinics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clinics.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "id,name,emails,listed_inhabitants,hsa_id\n\
        vc-ekbacken,Vårdcentralen Ekbacken,@ekbacken.vc.test;Chef@Other.test,12000,SE1\n\
        vc-almhult,\"Vårdcentralen Älmhult, Norra\",kansli@almhult.vc.test ; ,8500,SE2\n";

    #[test]
    fn parses_and_looks_up_addresses_and_domains() {
        let r = Registry::from_csv(CSV).unwrap();
        assert_eq!(r.len(), 2);
        let ek = r.get("vc-ekbacken").unwrap();
        assert_eq!(ek.domains, vec!["ekbacken.vc.test"]);
        assert_eq!(ek.emails, vec!["chef@other.test"]);
        assert_eq!(ek.listed_inhabitants, 12000);
        assert_eq!(
            r.get("vc-almhult").unwrap().name,
            "Vårdcentralen Älmhult, Norra"
        );
        assert_eq!(r.lookup("anna@ekbacken.vc.test").unwrap().id, "vc-ekbacken");
        assert_eq!(r.lookup("Anna@EKBACKEN.vc.test").unwrap().id, "vc-ekbacken");
        assert_eq!(r.lookup("CHEF@other.TEST").unwrap().id, "vc-ekbacken");
        assert_eq!(
            r.lookup("<kansli@almhult.vc.test>").unwrap().id,
            "vc-almhult"
        );
        // No parent-domain or sub-domain matching, and an address is not a domain.
        assert!(r.lookup("x@mail.ekbacken.vc.test").is_none());
        assert!(r.lookup("x@vc.test").is_none());
        assert!(r.lookup("someone@other.test").is_none());
        assert!(r.lookup("other@almhult.vc.test").is_none());
        assert!(r.lookup("not an address").is_none());
    }

    #[test]
    fn from_clinics_indexes_addresses_and_domains() {
        let c = |id: &str, emails: &[&str]| Clinic {
            id: id.into(),
            name: id.into(),
            emails: emails.iter().map(|s| s.to_string()).collect(),
            domains: Vec::new(),
            listed_inhabitants: 1,
        };
        let r = Registry::from_clinics(vec![c("a", &["@a.test"]), c("b", &["B@x.test"])]).unwrap();
        assert_eq!(r.lookup("x@a.test").unwrap().id, "a");
        assert_eq!(r.get("a").unwrap().domains, vec!["a.test"]);
        assert_eq!(r.lookup("b@x.test").unwrap().id, "b");
        let dup = Registry::from_clinics(vec![c("a", &["@a.test"]), c("b", &["@A.test"])]);
        assert!(matches!(
            dup,
            Err(RegistryError::DuplicateAddress { line: 2, .. })
        ));
    }

    #[test]
    fn exact_address_wins_over_domain() {
        let csv = "id,name,emails,listed_inhabitants\n\
            a,A,@region.test,1\n\
            b,B,vc-b@region.test,2\n";
        let r = Registry::from_csv(csv).unwrap();
        assert_eq!(r.lookup("vc-b@region.test").unwrap().id, "b");
        assert_eq!(r.lookup("x@region.test").unwrap().id, "a");
    }

    #[test]
    fn rejects_duplicates_and_bad_values() {
        let dup_id = "id,name,emails,listed_inhabitants\na,A,a@x.test,1\na,B,b@x.test,2\n";
        assert!(matches!(
            Registry::from_csv(dup_id),
            Err(RegistryError::DuplicateId { .. })
        ));
        let dup_addr = "id,name,emails,listed_inhabitants\na,A,A@x.test,1\nb,B,a@X.test,2\n";
        assert!(matches!(
            Registry::from_csv(dup_addr),
            Err(RegistryError::DuplicateAddress { .. })
        ));
        let dup_dom = "id,name,emails,listed_inhabitants\na,A,@x.test,1\nb,B,@X.TEST,2\n";
        assert!(matches!(
            Registry::from_csv(dup_dom),
            Err(RegistryError::DuplicateAddress { .. })
        ));
        for bad in ["-1", "12.5", "", "many"] {
            let csv = format!("id,name,emails,listed_inhabitants\na,A,a@x.test,{bad}\n");
            assert!(matches!(
                Registry::from_csv(&csv),
                Err(RegistryError::BadInhabitants { .. })
            ));
        }
        let bad_addr = "id,name,emails,listed_inhabitants\na,A,nobody,1\n";
        assert!(matches!(
            Registry::from_csv(bad_addr),
            Err(RegistryError::BadAddress { .. })
        ));
        let missing = "id,name,listed_inhabitants\na,A,1\n";
        assert!(matches!(
            Registry::from_csv(missing),
            Err(RegistryError::MissingColumn("emails"))
        ));
        let empty_id = "id,name,emails,listed_inhabitants\n,A,a@x.test,1\n";
        assert!(matches!(
            Registry::from_csv(empty_id),
            Err(RegistryError::EmptyId { .. })
        ));
    }
}
