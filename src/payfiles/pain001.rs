//! ISO 20022 `pain.001.001.09` (CustomerCreditTransferInitiationV09), the credit transfer
//! initiation Swedish banks take for domestic SEK payments (why .09 and not .03:
//! `docs/payouts.md`). One payment information block (`PmtInf`) per batch, executed on the
//! batch's due date from the region's IBAN; one transaction per clinic with a positive net.
//!
//! Creditor accounts as the Swedish banks' implementation guides describe them:
//! - bankgiro: `CdtrAcct/Id/Othr/Id` = the digits, `SchmeNm/Prtry` = `BGNR`; creditor agent
//!   `ClrSysMmbId` = `SESBA` / `9900` (Bankgirot);
//! - plusgiro: `Othr/Id` = the digits, `SchmeNm/Cd` = `BBAN`; agent `SESBA` / `9960`;
//! - IBAN: `CdtrAcct/Id/IBAN`, no creditor agent (the bank derives it for domestic IBANs).
//!
//! Amounts are written from öre with integer arithmetic; text is XML-escaped and cut to the
//! schema's lengths (names 140, remittance 140, ids 35).

use std::fmt::Write;

use super::Batch;
use crate::domain::ids::Payee;
use crate::domain::money::Ore;

pub const NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09";

/// XML text escaping.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn digits(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_digit()).collect()
}

/// The pain.001 document of a batch. Fails when a payee or the payer account is invalid
/// (the domain blocks such clinics before a batch is sealed; this is the last guard).
pub fn write(batch: &Batch) -> Result<String, String> {
    let h = &batch.header;
    let d = &h.debtor;
    let transfers = batch.transfers();
    let ctrl: i64 = transfers.iter().map(|t| t.amount_ore).sum();
    let debtor_iban =
        crate::domain::ids::iban(&d.iban).map_err(|e| format!("[payouts.debtor] iban: {e}"))?;
    let msg_id = cut(&format!("{}-{:06}", h.stem, h.number), 35);
    let party_id = d
        .initiating_party_id
        .clone()
        .unwrap_or_else(|| digits(&d.org_nr));
    let mut x = String::new();
    let w = &mut x;
    let _ = writeln!(w, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(w, r#"<Document xmlns="{NAMESPACE}">"#);
    let _ = writeln!(w, "  <CstmrCdtTrfInitn>");
    let _ = writeln!(w, "    <GrpHdr>");
    let _ = writeln!(w, "      <MsgId>{}</MsgId>", esc(&msg_id));
    let _ = writeln!(
        w,
        "      <CreDtTm>{}</CreDtTm>",
        h.sealed_at.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let _ = writeln!(w, "      <NbOfTxs>{}</NbOfTxs>", transfers.len());
    let _ = writeln!(w, "      <CtrlSum>{}</CtrlSum>", Ore(ctrl).sek_decimal());
    let _ = writeln!(w, "      <InitgPty>");
    let _ = writeln!(w, "        <Nm>{}</Nm>", esc(&cut(&d.name, 140)));
    let _ = writeln!(
        w,
        "        <Id><OrgId><Othr><Id>{}</Id><SchmeNm><Cd>BANK</Cd></SchmeNm></Othr></OrgId></Id>",
        esc(&cut(&party_id, 35))
    );
    let _ = writeln!(w, "      </InitgPty>");
    let _ = writeln!(w, "    </GrpHdr>");
    let _ = writeln!(w, "    <PmtInf>");
    let _ = writeln!(w, "      <PmtInfId>{}</PmtInfId>", esc(&msg_id));
    let _ = writeln!(w, "      <PmtMtd>TRF</PmtMtd>");
    let _ = writeln!(w, "      <BtchBookg>false</BtchBookg>");
    let _ = writeln!(w, "      <NbOfTxs>{}</NbOfTxs>", transfers.len());
    let _ = writeln!(w, "      <CtrlSum>{}</CtrlSum>", Ore(ctrl).sek_decimal());
    let _ = writeln!(
        w,
        "      <PmtTpInf><SvcLvl><Cd>NURG</Cd></SvcLvl><CtgyPurp><Cd>SUPP</Cd></CtgyPurp></PmtTpInf>"
    );
    let _ = writeln!(
        w,
        "      <ReqdExctnDt><Dt>{}</Dt></ReqdExctnDt>",
        h.due_date.format("%Y-%m-%d")
    );
    let _ = writeln!(w, "      <Dbtr>");
    let _ = writeln!(w, "        <Nm>{}</Nm>", esc(&cut(&d.name, 140)));
    let _ = writeln!(
        w,
        "        <Id><OrgId><Othr><Id>{}</Id></Othr></OrgId></Id>",
        esc(&digits(&d.org_nr))
    );
    let _ = writeln!(w, "      </Dbtr>");
    let _ = writeln!(
        w,
        "      <DbtrAcct><Id><IBAN>{debtor_iban}</IBAN></Id><Ccy>SEK</Ccy></DbtrAcct>"
    );
    let _ = writeln!(
        w,
        "      <DbtrAgt><FinInstnId><BICFI>{}</BICFI></FinInstnId></DbtrAgt>",
        esc(&d.bic.to_ascii_uppercase())
    );
    let _ = writeln!(w, "      <ChrgBr>SLEV</ChrgBr>");
    for t in &transfers {
        let payee =
            Payee::parse(t.payee).map_err(|e| format!("vårdcentral {}: {e}", t.clinic_id))?;
        let e2e = cut(&format!("{}-{}", msg_id, t.first_seq), 35);
        let _ = writeln!(w, "      <CdtTrfTxInf>");
        let _ = writeln!(
            w,
            "        <PmtId><InstrId>{0}</InstrId><EndToEndId>{0}</EndToEndId></PmtId>",
            esc(&e2e)
        );
        let _ = writeln!(
            w,
            r#"        <Amt><InstdAmt Ccy="SEK">{}</InstdAmt></Amt>"#,
            Ore(t.amount_ore).sek_decimal()
        );
        let (agent, account) = match &payee {
            Payee::Bankgiro(n) => (
                Some("9900"),
                format!("<Othr><Id>{n}</Id><SchmeNm><Prtry>BGNR</Prtry></SchmeNm></Othr>"),
            ),
            Payee::Plusgiro(n) => (
                Some("9960"),
                format!("<Othr><Id>{n}</Id><SchmeNm><Cd>BBAN</Cd></SchmeNm></Othr>"),
            ),
            Payee::Iban(i) => (None, format!("<IBAN>{i}</IBAN>")),
        };
        if let Some(member) = agent {
            let _ = writeln!(
                w,
                "        <CdtrAgt><FinInstnId><ClrSysMmbId><ClrSysId><Cd>SESBA</Cd></ClrSysId><MmbId>{member}</MmbId></ClrSysMmbId></FinInstnId></CdtrAgt>"
            );
        }
        let _ = writeln!(
            w,
            "        <Cdtr><Nm>{}</Nm></Cdtr>",
            esc(&cut(t.name, 140))
        );
        let _ = writeln!(w, "        <CdtrAcct><Id>{account}</Id></CdtrAcct>");
        let _ = writeln!(
            w,
            "        <RmtInf><Ustrd>{}</Ustrd></RmtInf>",
            esc(&cut(&t.references.join(", "), 140))
        );
        let _ = writeln!(w, "      </CdtTrfTxInf>");
    }
    let _ = writeln!(w, "    </PmtInf>");
    let _ = writeln!(w, "  </CstmrCdtTrfInitn>");
    let _ = writeln!(w, "</Document>");
    Ok(x)
}
