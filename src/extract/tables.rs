//! The table state machine shared by the XML readers (DOCX `w:tbl`, ODT `table:table`):
//! rows of cells, each cell's paragraphs joined by '\n', a nested table flattened into the
//! text of the cell that holds it, and an orderly close of whatever a truncated part left open.

use crate::domain::document::Block;

#[derive(Debug, Default)]
struct Table {
    rows: Vec<Vec<String>>,
    row: Vec<String>,
    cell: Vec<String>,
    in_cell: bool,
}

/// The tables open at this point of the document, innermost last.
#[derive(Debug, Default)]
pub(crate) struct Tables(Vec<Table>);

impl Tables {
    pub(crate) fn open_table(&mut self) {
        self.0.push(Table::default());
    }

    pub(crate) fn open_row(&mut self) {
        if let Some(t) = self.0.last_mut() {
            t.row.clear();
        }
    }

    pub(crate) fn open_cell(&mut self) {
        if let Some(t) = self.0.last_mut() {
            t.cell.clear();
            t.in_cell = true;
        }
    }

    pub(crate) fn close_cell(&mut self) {
        if let Some(t) = self.0.last_mut() {
            close_cell(t);
        }
    }

    pub(crate) fn close_row(&mut self) {
        if let Some(t) = self.0.last_mut() {
            close_row(t);
        }
    }

    /// Text inside a cell goes to the cell; outside any cell it is handed back.
    pub(crate) fn take_text(&mut self, text: String) -> Option<String> {
        match self.0.last_mut() {
            Some(t) if t.in_cell => {
                t.cell.push(text);
                None
            }
            _ => Some(text),
        }
    }

    /// Close the innermost table: a nested one becomes text of its parent's cell, an outer one
    /// with any text becomes a block.
    pub(crate) fn close_table(&mut self) -> Option<Block> {
        let t = self.0.pop()?;
        self.finish(t)
    }

    /// Close every open table (a part that ended early), innermost first.
    pub(crate) fn flush(&mut self) -> Vec<Block> {
        let mut out = Vec::new();
        while let Some(mut t) = self.0.pop() {
            close_cell(&mut t);
            close_row(&mut t);
            out.extend(self.finish(t));
        }
        out
    }

    fn finish(&mut self, t: Table) -> Option<Block> {
        if let Some(parent) = self.0.last_mut()
            && parent.in_cell
        {
            let flat = super::flatten_table(&t.rows);
            if !flat.is_empty() {
                parent.cell.push(flat);
            }
            return None;
        }
        t.rows
            .iter()
            .flatten()
            .any(|c| !c.is_empty())
            .then_some(Block::Table { rows: t.rows })
    }
}

fn close_cell(t: &mut Table) {
    if t.in_cell {
        let cell = std::mem::take(&mut t.cell).join("\n");
        t.row.push(cell);
        t.in_cell = false;
    }
}

fn close_row(t: &mut Table) {
    let row = std::mem::take(&mut t.row);
    if !row.is_empty() {
        t.rows.push(row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_tables_flatten_into_the_parent_cell_and_flush_closes_all() {
        let mut t = Tables::default();
        t.open_table();
        t.open_row();
        t.open_cell();
        assert_eq!(t.take_text("A. Val".into()), None);
        t.open_table();
        t.open_row();
        t.open_cell();
        t.take_text("inner".into());
        t.close_cell();
        t.close_row();
        assert_eq!(t.close_table(), None, "a nested table is cell text");
        t.close_cell();
        // truncated here: the outer table is still open
        let blocks = t.flush();
        assert_eq!(
            blocks,
            vec![Block::Table {
                rows: vec![vec!["A. Val\ninner".into()]]
            }]
        );
        assert_eq!(t.take_text("outside".into()), Some("outside".into()));
    }
}
