//! The `check` report: the documented JSON contract and the human-readable text form.
//!
//! The JSON shape is a contract other tools rely on exactly (see README, "vardval check"):
//! it is built here and nowhere else.

use serde_json::{Value, json};

use crate::domain::analysis::Analysis;
use crate::domain::document::{Format, TextSource};
use crate::domain::grading::{Grade, Status};
use crate::domain::rulebook::Rulebook;
use crate::domain::vocab;
use crate::extract::ExtractError;
use crate::mail::clean::{MAX_QUOTED_CHARS, clean_text};

/// The JSON report for an analysed document.
pub fn json_report(file: &str, format: Format, a: &Analysis) -> Value {
    let mut sections = serde_json::Map::new();
    for s in &a.sections {
        sections.insert(
            s.id.to_string(),
            json!({
                "required": s.required,
                "status": s.status,
                "heading": s.heading,
                "words": s.words,
                "matched_by": s.matched_by.as_ref().map(|m| json!({
                    "heading": m.heading,
                    "rule": m.rule.as_str(),
                    "score": m.score,
                })),
            }),
        );
    }
    json!({
        "document": {"file": file, "format": format.as_str(), "words": a.words},
        "milestone": a.milestone,
        "sections": sections,
        "baseline": {"found": a.baseline.found, "values": a.baseline.values, "excerpt": a.baseline.excerpt},
        "goal": {"found": a.goal.found, "measurable": a.goal.measurable, "time_bound": a.goal.time_bound, "excerpt": a.goal.excerpt},
        "data_sources": a.data_sources,
        "grade": a.grade,
    })
}

/// Said wherever a report rests on OCR text (JSON `document.note`, the text report).
pub use crate::domain::vocab::OCR_NOTE;

/// Add where the text came from to a JSON report: `document.source` is `"text"` or `"ocr"`,
/// and an OCR report gets `document.note` ([`OCR_NOTE`]).
pub fn add_source(report: &mut Value, source: TextSource) {
    if let Some(d) = report.get_mut("document").and_then(Value::as_object_mut) {
        d.insert("source".into(), json!(source));
        if source == TextSource::Ocr {
            d.insert("note".into(), json!(OCR_NOTE));
        }
    }
}

/// The Swedish explanation of an extraction error, fit to forward to the clinic.
pub fn swedish_error(e: &ExtractError) -> String {
    vocab::unreadable_advice(e.kind()).to_string()
}

/// The JSON error object for a file that cannot be analysed.
pub fn json_error(e: &ExtractError) -> Value {
    json!({"error": {"kind": e.kind(), "message": swedish_error(e)}})
}

/// The human-readable report; `color` adds ANSI colours to the traffic light.
pub fn text_report(file: &str, format: Format, a: &Analysis, rb: &Rulebook, color: bool) -> String {
    use std::fmt::Write;
    let paint = |g: Grade| -> String {
        let code = match g {
            Grade::Green => "32",
            Grade::Yellow => "33",
            Grade::Red => "31",
        };
        let label = vocab::grade_label(g);
        if color {
            format!("\x1b[1;{code}m● {label}\x1b[0m")
        } else {
            format!("● {label}")
        }
    };
    let mut o = String::new();
    // File names and document text are sender-controlled: no control or bidi characters,
    // no line breaks, bounded length.
    let file = clean_text(file, 2 * MAX_QUOTED_CHARS);
    let ms = rb
        .milestone(a.milestone)
        .map_or(String::new(), |m| m.name.clone());
    let _ = writeln!(
        o,
        "{file} ({}, {} ord)",
        format.as_str().to_uppercase(),
        a.words
    );
    let _ = writeln!(
        o,
        "Riktmärke {}{}: {}",
        a.milestone,
        if a.milestone_inferred {
            " (tolkat från dokumentet)"
        } else {
            ""
        },
        ms
    );
    let _ = writeln!(o, "Förhandsbedömning: {}", paint(a.grade));
    let _ = writeln!(o);
    for s in &a.sections {
        let rule = rb.section(s.id);
        let req = if s.required { "" } else { "  (krävs ej)" };
        let _ = writeln!(
            o,
            "  {} {:<7} {:>4} ord  {}{}",
            s.id,
            vocab::status_word(s.status),
            s.words,
            s.heading
                .as_deref()
                .map_or("–".to_string(), |h| clean_text(h, MAX_QUOTED_CHARS)),
            req
        );
        if s.required && s.status != Status::Ok {
            let _ = writeln!(o, "      {}: {}", rule.title, rule.questions.join(" "));
        }
    }
    let _ = writeln!(o);
    let yes = |b: bool| if b { "ja" } else { "nej" };
    let _ = writeln!(
        o,
        "Baslinjemätning: {}{}",
        yes(a.baseline.found),
        if a.baseline.values.is_empty() {
            String::new()
        } else {
            format!(" ({})", clean_text(&a.baseline.values.join(", "), 400))
        }
    );
    let _ = writeln!(
        o,
        "Mål: {}; mätbart: {}; tidsatt: {}",
        if a.goal.found { "finns" } else { "saknas" },
        yes(a.goal.measurable),
        yes(a.goal.time_bound)
    );
    if let Some(x) = &a.goal.excerpt {
        let _ = writeln!(o, "  \"{}\"", clean_text(x, 400));
    }
    let _ = writeln!(
        o,
        "Datakällor: {}",
        if a.data_sources.is_empty() {
            "inga angivna".to_string()
        } else {
            clean_text(&a.data_sources.join(", "), 400)
        }
    );
    for n in &a.notes {
        let _ = writeln!(o, "Obs: {}", clean_text(n, 400));
    }
    o
}
