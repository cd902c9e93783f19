//! The clinic registry file and what importing it changes, as pure functions.
//!
//! [`parse_file`] reads the CSV (`id,name,emails,listed_inhabitants` plus the optional
//! `year`, `reference_date`, `hsa_id`, `org_nr`, `payee`, `active`), validating every value
//! with [`super::ids`]. [`plan`] compares the file with the clinics already in the ledger and
//! says, per clinic, added / changed (which fields, old and new) / unchanged / not in the
//! file; it refuses the whole file when an address or domain would be claimed by two active
//! clinics. Errors name the 1-based line of the file; their text is Swedish.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;

use super::ids;

/// Listed inhabitants for one cycle year, counted on a reference date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inhabitants {
    pub count: u64,
    pub reference_date: NaiveDate,
}

/// A clinic's registry data (the ledger's current state, or what a file line says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicRecord {
    pub id: String,
    pub name: String,
    /// Exact addresses and whole domains (`@domain`), lower case, sorted, no duplicates.
    pub addresses: Vec<String>,
    pub hsa_id: Option<String>,
    pub org_nr: Option<String>,
    /// Canonical payee text: `bg:…`, `pg:…` or `iban:…`.
    pub payee: Option<String>,
    /// An inactive clinic stays in the ledger but is not in the intake's registry and claims
    /// no address.
    pub active: bool,
    pub inhabitants: BTreeMap<i32, Inhabitants>,
}

impl ClinicRecord {
    /// The inhabitants for `year`, else the latest year before it, else the earliest known.
    pub fn inhabitants_for(&self, year: i32) -> Option<(i32, Inhabitants)> {
        self.inhabitants
            .range(..=year)
            .next_back()
            .or_else(|| self.inhabitants.iter().next())
            .map(|(y, i)| (*y, *i))
    }
}

/// One line of a registry file. Optional columns missing from the header are `None` (keep
/// what the ledger has); a present but empty cell clears the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLine {
    pub line: u64,
    pub id: String,
    pub name: String,
    pub addresses: Vec<String>,
    pub year: i32,
    pub inhabitants: Inhabitants,
    pub hsa_id: Option<Option<String>>,
    pub org_nr: Option<Option<String>>,
    pub payee: Option<Option<String>>,
    pub active: Option<bool>,
}

/// A refused file: the line (0 for the header or the file as a whole) and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rad {line}: {problem}")]
pub struct FileError {
    pub line: u64,
    pub problem: String,
}

fn err(line: u64, problem: impl Into<String>) -> FileError {
    FileError {
        line,
        problem: problem.into(),
    }
}

fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.contains('.')
        && !d.starts_with('.')
        && !d.ends_with('.')
        && !d.contains("..")
        && d.chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.' || c == '_')
}

/// Lower-cases and checks one `emails` entry: `local@domain` or `@domain`.
pub fn address(entry: &str) -> Option<String> {
    let e = entry.trim().to_lowercase();
    let ok = if let Some(domain) = e.strip_prefix('@') {
        valid_domain(domain)
    } else {
        match e.rsplit_once('@') {
            Some((local, domain)) => {
                !local.is_empty() && !local.contains(char::is_whitespace) && valid_domain(domain)
            }
            None => false,
        }
    };
    ok.then_some(e)
}

fn parse_active(line: u64, v: &str) -> Result<bool, FileError> {
    match v.trim().to_lowercase().as_str() {
        "" | "1" | "ja" | "yes" | "true" => Ok(true),
        "0" | "nej" | "no" | "false" => Ok(false),
        other => Err(err(line, format!("active `{other}` ska vara ja eller nej"))),
    }
}

/// Parses and validates a registry file. `default_year` is the cycle year used when the
/// `year` column is missing or empty; the reference date defaults to 1 January of the year.
pub fn parse_file(text: &str, default_year: i32) -> Result<Vec<FileLine>, FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let csv_err = |e: csv::Error| {
        let line = e.position().map_or(0, |p| p.line());
        err(line, format!("filen går inte att läsa som CSV: {e}"))
    };
    let headers = reader.headers().map_err(csv_err)?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(name))
    };
    let need = |name: &'static str| {
        col(name).ok_or_else(|| err(1, format!("kolumnen `{name}` saknas i rubrikraden")))
    };
    let (c_id, c_name, c_emails, c_inh) = (
        need("id")?,
        need("name")?,
        need("emails")?,
        need("listed_inhabitants")?,
    );
    let (c_year, c_ref, c_hsa, c_org, c_payee, c_active) = (
        col("year"),
        col("reference_date"),
        col("hsa_id"),
        col("org_nr"),
        col("payee"),
        col("active"),
    );
    let mut out: Vec<FileLine> = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(csv_err)?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(i).unwrap_or("").trim();
        let opt = |c: Option<usize>| c.map(field);
        let id = field(c_id).to_string();
        if id.is_empty() {
            return Err(err(line, "id saknas"));
        }
        if let Some(first) = seen.insert(id.clone(), line) {
            return Err(err(line, format!("id `{id}` finns redan på rad {first}")));
        }
        let name = field(c_name).to_string();
        if name.is_empty() {
            return Err(err(line, format!("namn saknas för `{id}`")));
        }
        let inh_text = field(c_inh);
        let count: u64 = inh_text.parse().map_err(|_| {
            err(
                line,
                format!("listed_inhabitants `{inh_text}` ska vara ett heltal, 0 eller större"),
            )
        })?;
        let year = match opt(c_year).filter(|y| !y.is_empty()) {
            None => default_year,
            Some(y) => y
                .parse::<i32>()
                .ok()
                .filter(|y| (2000..=2100).contains(y))
                .ok_or_else(|| err(line, format!("year `{y}` ska vara ett årtal")))?,
        };
        let reference_date = match opt(c_ref).filter(|d| !d.is_empty()) {
            None => NaiveDate::from_ymd_opt(year, 1, 1).expect("1 January exists"),
            Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                err(
                    line,
                    format!("reference_date `{d}` ska vara ett datum ÅÅÅÅ-MM-DD"),
                )
            })?,
        };
        let mut addresses = Vec::new();
        for entry in field(c_emails).split(';').filter(|e| !e.trim().is_empty()) {
            let a = address(entry).ok_or_else(|| {
                err(
                    line,
                    format!("`{}` är ingen giltig adress eller @domän", entry.trim()),
                )
            })?;
            addresses.push(a);
        }
        addresses.sort();
        addresses.dedup();
        let checked = |c: Option<usize>,
                       f: &dyn Fn(&str) -> Result<String, ids::IdError>|
         -> Result<Option<Option<String>>, FileError> {
            match opt(c) {
                None => Ok(None),
                Some("") => Ok(Some(None)),
                Some(v) => f(v)
                    .map(|v| Some(Some(v)))
                    .map_err(|e| err(line, e.to_string())),
            }
        };
        let hsa_id = checked(c_hsa, &ids::hsa_id)?;
        let org_nr = checked(c_org, &ids::org_nr)?;
        let payee = checked(c_payee, &|v| ids::Payee::parse(v).map(|p| p.to_string()))?;
        let active = opt(c_active).map(|v| parse_active(line, v)).transpose()?;
        out.push(FileLine {
            line,
            id,
            name,
            addresses,
            year,
            inhabitants: Inhabitants {
                count,
                reference_date,
            },
            hsa_id,
            org_nr,
            payee,
            active,
        });
    }
    Ok(out)
}

/// One changed field: `None` is "not set".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// What an import does to one clinic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Added,
    Changed,
    Unchanged,
    /// In the ledger, not in the file: kept as it is.
    NotInFile,
}

/// The plan for one clinic: the outcome, the field changes (all fields for an added clinic)
/// and the record to store (for added and changed clinics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicPlan {
    pub id: String,
    pub outcome: Outcome,
    pub changes: Vec<FieldChange>,
    pub record: ClinicRecord,
}

/// The fields of a record as (name, value) pairs, in a fixed order; inhabitants per year.
pub fn fields(r: &ClinicRecord) -> Vec<(String, Option<String>)> {
    let mut v = vec![
        ("name".to_string(), Some(r.name.clone())),
        ("emails".to_string(), Some(r.addresses.join(";"))),
        ("hsa_id".to_string(), r.hsa_id.clone()),
        ("org_nr".to_string(), r.org_nr.clone()),
        ("payee".to_string(), r.payee.clone()),
        (
            "active".to_string(),
            Some(if r.active { "ja" } else { "nej" }.to_string()),
        ),
    ];
    for (year, i) in &r.inhabitants {
        v.push((
            format!("listed_inhabitants {year}"),
            Some(i.count.to_string()),
        ));
        v.push((
            format!("reference_date {year}"),
            Some(i.reference_date.to_string()),
        ));
    }
    v
}

fn diff(old: Option<&ClinicRecord>, new: &ClinicRecord) -> Vec<FieldChange> {
    let before: BTreeMap<String, Option<String>> = old
        .map(|o| fields(o).into_iter().collect())
        .unwrap_or_default();
    fields(new)
        .into_iter()
        .filter_map(|(field, value)| {
            let was = before.get(&field).cloned().flatten();
            (was != value).then_some(FieldChange {
                field,
                old: was,
                new: value,
            })
        })
        .collect()
}

/// Compares a parsed file with the ledger's clinics. Refuses the file when an address or a
/// domain would belong to two active clinics (two lines of the file, or a line and a ledger
/// clinic the file does not mention).
pub fn plan(current: &[ClinicRecord], file: &[FileLine]) -> Result<Vec<ClinicPlan>, FileError> {
    let by_id: HashMap<&str, &ClinicRecord> = current.iter().map(|c| (c.id.as_str(), c)).collect();
    let in_file: HashMap<&str, u64> = file.iter().map(|l| (l.id.as_str(), l.line)).collect();
    let mut out = Vec::new();
    // Who claims each address: (clinic id, line in the file or None for the ledger).
    let mut claims: HashMap<String, (String, Option<u64>)> = HashMap::new();
    for c in current
        .iter()
        .filter(|c| c.active && !in_file.contains_key(c.id.as_str()))
    {
        for a in &c.addresses {
            claims.insert(a.clone(), (c.id.clone(), None));
        }
    }
    for l in file {
        let old = by_id.get(l.id.as_str()).copied();
        let mut record = old.cloned().unwrap_or(ClinicRecord {
            id: l.id.clone(),
            name: String::new(),
            addresses: Vec::new(),
            hsa_id: None,
            org_nr: None,
            payee: None,
            active: true,
            inhabitants: BTreeMap::new(),
        });
        record.name = l.name.clone();
        record.addresses = l.addresses.clone();
        if let Some(v) = &l.hsa_id {
            record.hsa_id = v.clone();
        }
        if let Some(v) = &l.org_nr {
            record.org_nr = v.clone();
        }
        if let Some(v) = &l.payee {
            record.payee = v.clone();
        }
        if let Some(v) = l.active {
            record.active = v;
        }
        record.inhabitants.insert(l.year, l.inhabitants);
        if record.active {
            for a in &record.addresses {
                if let Some((other, other_line)) = claims.get(a) {
                    let by = match other_line {
                        Some(n) => format!("`{other}` på rad {n}"),
                        None => format!("`{other}`, som redan finns i registret men inte i filen"),
                    };
                    return Err(err(
                        l.line,
                        format!(
                            "`{a}` hör redan till {by}; en adress eller domän kan bara höra till en vårdcentral"
                        ),
                    ));
                }
                claims.insert(a.clone(), (l.id.clone(), Some(l.line)));
            }
        }
        let changes = diff(old, &record);
        let outcome = match (old, changes.is_empty()) {
            (None, _) => Outcome::Added,
            (Some(_), true) => Outcome::Unchanged,
            (Some(_), false) => Outcome::Changed,
        };
        out.push(ClinicPlan {
            id: l.id.clone(),
            outcome,
            changes,
            record,
        });
    }
    for c in current
        .iter()
        .filter(|c| !in_file.contains_key(c.id.as_str()))
    {
        out.push(ClinicPlan {
            id: c.id.clone(),
            outcome: Outcome::NotInFile,
            changes: Vec::new(),
            record: c.clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "id,name,emails,listed_inhabitants,year,hsa_id,org_nr,payee\n";

    fn current(text: &str) -> Vec<ClinicRecord> {
        plan(&[], &parse_file(text, 2026).unwrap())
            .unwrap()
            .into_iter()
            .map(|p| p.record)
            .collect()
    }

    #[test]
    fn added_changed_unchanged_and_not_in_file() {
        let first = format!(
            "{HEAD}a,A,a@x.test,10,,SE2321000057-1,556036-0793,bg:5050-1055\nb,B,@b.test,20,,,,\n"
        );
        let cur = current(&first);
        assert_eq!(
            cur[0].inhabitants[&2026].reference_date.to_string(),
            "2026-01-01"
        );
        let again = plan(&cur, &parse_file(&first, 2026).unwrap()).unwrap();
        assert!(again.iter().all(|p| p.outcome == Outcome::Unchanged));
        let next = format!("{HEAD}a,A2,a@x.test,11,,SE2321000057-1,556036-0793,pg:4-2\n");
        let p = plan(&cur, &parse_file(&next, 2026).unwrap()).unwrap();
        assert_eq!(p[0].outcome, Outcome::Changed);
        let names: Vec<&str> = p[0].changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(names, ["name", "payee", "listed_inhabitants 2026"]);
        assert_eq!(p[0].changes[1].old.as_deref(), Some("bg:5050-1055"));
        assert_eq!(p[0].changes[1].new.as_deref(), Some("pg:4-2"));
        assert_eq!(p[1].outcome, Outcome::NotInFile);
    }

    #[test]
    fn address_claimed_twice_names_the_line() {
        let text = format!("{HEAD}a,A,a@x.test,1,,,,\nb,B,A@X.test,2,,,,\n");
        let e = plan(&[], &parse_file(&text, 2026).unwrap()).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.problem.contains("`a` på rad 2"), "{e}");
        let cur = current(&format!("{HEAD}a,A,@x.test,1,,,,\n"));
        let e = plan(
            &cur,
            &parse_file(&format!("{HEAD}b,B,@x.test,1,,,,\n"), 2026).unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.problem.contains("inte i filen"), "{e}");
        // A deactivated clinic claims nothing.
        let off = "id,name,emails,listed_inhabitants,active\na,A,@x.test,1,nej\nb,B,@x.test,1,ja\n";
        assert!(plan(&[], &parse_file(off, 2026).unwrap()).is_ok());
    }

    #[test]
    fn bad_values_name_the_line() {
        for (row, what) in [
            (",A,a@x.test,1,,,,", "id saknas"),
            ("a,,a@x.test,1,,,,", "namn saknas"),
            ("a,A,a@x.test,-3,,,,", "listed_inhabitants"),
            ("a,A,nobody,1,,,,", "ingen giltig adress"),
            ("a,A,a@x.test,1,,SE12-1,,", "HSA-id"),
            ("a,A,a@x.test,1,,,556036-0794,", "organisationsnumret"),
            ("a,A,a@x.test,1,,,,bg:5050-1056", "bankgironumret"),
            ("a,A,a@x.test,1,,,,pg:4-4", "plusgironumret"),
            ("a,A,a@x.test,1,,,,iban:SE4550000000058398257467", "IBAN"),
            ("a,A,a@x.test,1,tjugo,,,", "year"),
        ] {
            let text = format!("{HEAD}ok,OK,ok@x.test,1,,,,\n{row}\n");
            let e = parse_file(&text, 2026).unwrap_err();
            assert_eq!(e.line, 3, "{row}: {e}");
            assert!(e.to_string().starts_with("rad 3: "), "{e}");
            assert!(e.problem.contains(what), "{row}: {e}");
        }
    }

    #[test]
    fn inhabitants_for_a_year_falls_back_to_the_latest_before() {
        let mut cur = current(&format!("{HEAD}a,A,a@x.test,10,2025,,,\n"));
        assert_eq!(cur[0].inhabitants_for(2026).unwrap().1.count, 10);
        cur[0].inhabitants.insert(
            2026,
            Inhabitants {
                count: 12,
                reference_date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            },
        );
        assert_eq!(cur[0].inhabitants_for(2026).unwrap().1.count, 12);
        assert_eq!(cur[0].inhabitants_for(2024).unwrap().1.count, 10);
    }
}
