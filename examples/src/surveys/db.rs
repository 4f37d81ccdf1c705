//! The surveys database (`SQLite`): surveys, and the answers visitors give them.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension as _};

/// A stored survey.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Survey {
    /// Its id.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// The question it asks.
    pub question: String,
    /// How many answers it has.
    pub answers: i64,
}

/// The answers a survey takes, as the Flask tutorial's app has them.
pub const ANSWERS: [&str; 3] = ["yes", "no", "maybe"];

/// A survey's results: each answer with its count and share.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Tally {
    /// The answer.
    pub answer: &'static str,
    /// How many gave it.
    pub count: i64,
    /// Its share of all answers, in percent (0 when there are none).
    pub percent: u32,
}

/// Opens (and creates if needed) the surveys database.
///
/// # Errors
/// When `SQLite` cannot open or create the file.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let db = Connection::open(path)?;
    db.execute_batch(
        "PRAGMA foreign_keys = ON;
         CREATE TABLE IF NOT EXISTS surveys (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             title TEXT NOT NULL,
             question TEXT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS answers (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             survey_id INTEGER NOT NULL REFERENCES surveys(id) ON DELETE CASCADE,
             answer TEXT NOT NULL CHECK (answer IN ('yes', 'no', 'maybe'))
         );",
    )?;
    Ok(db)
}

/// Every survey, oldest first, with its number of answers.
///
/// # Errors
/// When the query fails.
pub fn all(db: &Connection) -> rusqlite::Result<Vec<Survey>> {
    let mut statement = db.prepare(
        "SELECT s.id, s.title, s.question, COUNT(a.id) FROM surveys s
         LEFT JOIN answers a ON a.survey_id = s.id GROUP BY s.id ORDER BY s.id",
    )?;
    let rows = statement.query_map([], |row| {
        Ok(Survey {
            id: row.get(0)?,
            title: row.get(1)?,
            question: row.get(2)?,
            answers: row.get(3)?,
        })
    })?;
    rows.collect()
}

/// One survey.
///
/// # Errors
/// When the query fails.
pub fn get(db: &Connection, id: i64) -> rusqlite::Result<Option<Survey>> {
    db.query_row(
        "SELECT s.id, s.title, s.question, COUNT(a.id) FROM surveys s
         LEFT JOIN answers a ON a.survey_id = s.id WHERE s.id = ?1 GROUP BY s.id",
        [id],
        |row| {
            Ok(Survey {
                id: row.get(0)?,
                title: row.get(1)?,
                question: row.get(2)?,
                answers: row.get(3)?,
            })
        },
    )
    .optional()
}

/// Creates a survey; its id.
///
/// # Errors
/// When the insert fails.
pub fn create(db: &Connection, title: &str, question: &str) -> rusqlite::Result<i64> {
    db.execute(
        "INSERT INTO surveys (title, question) VALUES (?1, ?2)",
        (title, question),
    )?;
    Ok(db.last_insert_rowid())
}

/// Records an answer; `false` when there is no such survey.
///
/// # Errors
/// When the insert fails otherwise.
pub fn answer(db: &Connection, id: i64, answer: &str) -> rusqlite::Result<bool> {
    if get(db, id)?.is_none() {
        return Ok(false);
    }
    db.execute(
        "INSERT INTO answers (survey_id, answer) VALUES (?1, ?2)",
        (id, answer),
    )?;
    Ok(true)
}

/// The results of a survey, in the order of [`ANSWERS`].
///
/// # Errors
/// When the query fails.
pub fn results(db: &Connection, id: i64) -> rusqlite::Result<Vec<Tally>> {
    let mut counts = Vec::new();
    for answer in ANSWERS {
        let count: i64 = db.query_row(
            "SELECT COUNT(*) FROM answers WHERE survey_id = ?1 AND answer = ?2",
            (id, answer),
            |row| row.get(0),
        )?;
        counts.push((answer, count));
    }
    let total: i64 = counts.iter().map(|(_, c)| c).sum();
    Ok(counts
        .into_iter()
        .map(|(answer, count)| Tally {
            answer,
            count,
            percent: if total == 0 {
                0
            } else {
                u32::try_from(count * 100 / total).unwrap_or(100)
            },
        })
        .collect())
}

/// Deletes a survey and its answers; `false` when there was none.
///
/// # Errors
/// When the delete fails.
pub fn delete(db: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(db.execute("DELETE FROM surveys WHERE id = ?1", [id])? > 0)
}
