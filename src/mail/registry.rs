//! The clinic registry (`config/clinics.csv`): `id,name,emails,listed_inhabitants`, where
//! `emails` lists addresses and whole domains (`@ekbacken.vc.test`) separated by `;`.
