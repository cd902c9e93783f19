//! The live clinic registry: one snapshot shared by intake and the scheduler, reloaded from
//! the ledger when `vardval clinics import` (another process) has changed it, so a running
//! daemon never needs a restart. The ledger's registry stamp ([`Store::registry_stamp`]:
//! the latest change id, the number of clinics and the latest update) is compared once per
//! intake batch and once per scheduler tick; a message or a job run always sees one whole
//! registry.

use std::sync::{Arc, RwLock};

use anyhow::Context;

use crate::domain::clinics::ClinicRecord;
use crate::mail::registry::{Clinic, Registry};
use crate::store::Store;

/// The registry of the active clinics in `records`, with the listed inhabitants of `year`.
pub fn registry_from_records(records: &[ClinicRecord], year: i32) -> anyhow::Result<Registry> {
    let list = records
        .iter()
        .filter(|r| r.active)
        .map(|r| Clinic {
            id: r.id.clone(),
            name: r.name.clone(),
            emails: r.addresses.clone(),
            domains: Vec::new(),
            listed_inhabitants: r.inhabitants_for(year).map_or(0, |(_, i)| i.count),
        })
        .collect();
    Registry::from_clinics(list).context("the clinic registry in the database is inconsistent")
}

#[derive(Debug)]
struct Current {
    /// The ledger stamp the snapshot was read at; `None`: a fixed registry (never reloaded).
    stamp: Option<String>,
    registry: Arc<Registry>,
}

/// A cloneable handle on the current registry.
#[derive(Debug, Clone)]
pub struct SharedRegistry {
    current: Arc<RwLock<Current>>,
    /// The cycle year whose listed inhabitants are read.
    year: i32,
}

impl SharedRegistry {
    /// A registry read from the ledger at `stamp`; [`SharedRegistry::refresh`] reloads it.
    pub fn from_ledger(registry: Registry, year: i32, stamp: String) -> SharedRegistry {
        SharedRegistry {
            current: Arc::new(RwLock::new(Current {
                stamp: Some(stamp),
                registry: Arc::new(registry),
            })),
            year,
        }
    }

    /// A registry that is not in a ledger (tests, `check`): never reloaded.
    pub fn fixed(registry: Registry) -> SharedRegistry {
        SharedRegistry {
            current: Arc::new(RwLock::new(Current {
                stamp: None,
                registry: Arc::new(registry),
            })),
            year: 0,
        }
    }

    /// The registry as it is now (cheap; hold it for one message or one job run).
    pub fn snapshot(&self) -> Arc<Registry> {
        self.current.read().expect("registry lock").registry.clone()
    }

    /// Reload from the ledger if it changed since the snapshot. Returns whether it did.
    /// A registry the ledger cannot give (a broken row) keeps the previous one and says why.
    pub async fn refresh(&self, store: &Store) -> anyhow::Result<bool> {
        let Some(seen) = self.current.read().expect("registry lock").stamp.clone() else {
            return Ok(false);
        };
        let stamp = store.registry_stamp().await?;
        if stamp == seen {
            return Ok(false);
        }
        let registry = registry_from_records(&store.clinics().await?, self.year)?;
        let n = registry.clinics().len();
        let mut cur = self.current.write().expect("registry lock");
        cur.registry = Arc::new(registry);
        cur.stamp = Some(stamp);
        tracing::info!(
            clinics = n,
            "the clinic registry changed in the ledger: reloaded"
        );
        Ok(true)
    }
}

impl From<Registry> for SharedRegistry {
    fn from(r: Registry) -> SharedRegistry {
        SharedRegistry::fixed(r)
    }
}
