//! Every `rust` code block of the README, as a function of `readme_blocks.rs` in `OUT_DIR`,
//! compiled by `tests/readme.rs`: a README example that stops compiling fails the test
//! suite. Each block becomes the body of an `async fn` (items are allowed there), after a
//! prelude of the names the examples take as given (`client`, `labels`, `User`, ...).

use std::fmt::Write as _;

fn main() {
    let readme = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    println!("cargo:rerun-if-changed={readme}");
    let text = std::fs::read_to_string(readme).expect("README.md is readable");
    let mut out = String::new();
    let mut block: Option<(usize, String)> = None;
    let mut count = 0;
    for (index, line) in text.lines().enumerate() {
        match &mut block {
            None if line.trim_start() == "```rust" => block = Some((index + 2, String::new())),
            None => {}
            Some(_) if line.trim_start().starts_with("```") => {
                let (first_line, code) = block.take().unwrap_or_default();
                count += 1;
                let _ = write!(
                    out,
                    "/// README.md, the block from line {first_line}.\n\
                     #[allow(unused, dead_code, unreachable_code, clippy::all, clippy::pedantic, clippy::nursery)]\n\
                     pub async fn readme_block_{count}() -> Result<(), Box<dyn std::error::Error>> {{\n\
                     use crate::prelude::*;\n\
                     let (client, labels, timeout, token, id) = given();\n\
                     {code}\n\
                     Ok(())\n\
                     }}\n\n"
                );
            }
            Some((_, code)) => {
                code.push_str(line);
                code.push('\n');
            }
        }
    }
    let _ = writeln!(
        out,
        "/// How many blocks the README has.\npub const BLOCKS: usize = {count};"
    );
    let path = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("readme_blocks.rs");
    std::fs::write(path, out).expect("OUT_DIR is writable");
}
