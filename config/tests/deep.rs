//! Nesting and size cannot crash the reader: files nested a million levels deep, in every
//! way TOML can nest, read on a thread with a small stack, end in an error with a place.

/// Runs `read` on a thread with a 256 KiB stack: a reader that recursed per level would
/// overflow it long before a million levels.
fn on_small_stack<T: Send + 'static>(read: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(read)
        .unwrap()
        .join()
        .unwrap()
}

fn deep(prefix: &str, open: &str, close: &str, suffix: &str, depth: usize) -> String {
    let mut text = String::with_capacity(depth * (open.len() + close.len()) + 64);
    text.push_str(prefix);
    for _ in 0..depth {
        text.push_str(open);
    }
    for _ in 0..depth {
        text.push_str(close);
    }
    text.push_str(suffix);
    text
}

#[test]
fn a_million_levels_of_anything_is_an_error_with_a_place() {
    let cases = [
        deep("[flags.A]\ndescription = ", "[", "]", "\n", 1_000_000),
        deep("[flags.A]\nconstraints = ", "[", "]", "\n", 1_000_000),
        deep("[flags.A]\nvariants = [", "{ a = ", "1 }", "]\n", 1_000_000),
        deep("x = ", "{ a = ", "1 }", "\n", 1_000_000),
        deep(
            "[flags.A]\nconstraints = [{ label = \"l\", operator = \"IN\", values = ",
            "[",
            "]",
            " }]\n",
            1_000_000,
        ),
        format!("[flags.A]\n{} = 1\n", vec!["a"; 1_000_000].join(".")),
        format!("[{}]\n", vec!["a"; 1_000_000].join(".")),
        format!("[[{}]]\n", vec!["flags"; 1_000_000].join(".")),
    ];
    for (i, text) in cases.into_iter().enumerate() {
        let error = on_small_stack(move || {
            flowgate_config::parse(&text, "deep.toml").expect_err("too deep to be a rules file")
        });
        assert!(
            error.line() >= 1 && error.column() >= 1,
            "case {i}: {error}"
        );
        assert!(
            error.to_string().starts_with("deep.toml:"),
            "case {i}: {error}"
        );
    }
}

#[test]
fn nesting_within_the_limit_is_read_or_refused_for_its_meaning() {
    for depth in [1, 2, 10, 15, 16, 17, 200] {
        let text = deep("[flags.A]\ndescription = ", "[", "]", "\n", depth);
        let error = on_small_stack(move || flowgate_config::parse(&text, "x").unwrap_err());
        assert!(error.line() == 2, "depth {depth}: {error}");
    }
}

#[test]
fn size_limits_are_errors_that_say_so() {
    let dir = std::env::temp_dir().join(format!("flowgate-config-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("flowgate.toml");
    let mut big = String::from("[flags]\n# ");
    big.push_str(&"x".repeat(usize::try_from(flowgate_config::limits::MAX_FILE_BYTES).unwrap()));
    std::fs::write(&path, &big).unwrap();
    let error = flowgate_config::read_file(&path).unwrap_err();
    assert!(error.message().contains("larger than 32 MiB"), "{error}");

    std::fs::write(&path, b"[flags.A]\nrollout = 5\ndescription = \"\xff\"\n").unwrap();
    let error = flowgate_config::read_file(&path).unwrap_err();
    assert_eq!((error.line(), error.column()), (3, 16), "{error}");
    assert!(error.to_string().contains("not UTF-8"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();

    let values: Vec<String> = (0..=flowgate_config::limits::MAX_VALUES)
        .map(|i| format!("\"{i}\""))
        .collect();
    let text = format!(
        "[flags.A]\nconstraints = [{{ label = \"l\", operator = \"IN\", values = [{}] }}]\n",
        values.join(", ")
    );
    let error = flowgate_config::parse(&text, "x").unwrap_err();
    assert_eq!(error.key(), Some("values"));
    assert!(error.message().contains("at most 10000"), "{error}");

    let text = format!(
        "[flags.A]\nconstraints = [{{ label = \"l\", operator = \"STR_CONTAINS\", values = [\"{}\"] }}]\n",
        "v".repeat(5000)
    );
    let error = flowgate_config::parse(&text, "x").unwrap_err();
    assert!(error.message().contains("at most 4096 bytes"), "{error}");
}
