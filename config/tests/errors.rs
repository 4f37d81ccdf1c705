//! Errors point at the right place: the flag they are in (whatever follows its header on
//! the line), the key when the mistake is a key, and never a value called a key.

fn error(text: &str) -> flowgate_config::ConfigError {
    flowgate_config::parse(text, "flowgate.toml").unwrap_err()
}

#[test]
fn a_comment_after_a_header_does_not_move_the_flag() {
    for header in [
        "[flags.B] # the B flag",
        "[flags.B]# tight",
        "  [ flags . B ]   # spaced",
        "[flags.\"B\"] # quoted",
    ] {
        let text = format!("[flags.A]\nrollout = 1\n\n{header}\nrollout = 140\n");
        let error = error(&text);
        assert_eq!(error.flag(), Some("B"), "{header}: {error}");
        assert_eq!(
            (error.line(), error.key()),
            (5, Some("rollout")),
            "{header}: {error}"
        );
    }
}

#[test]
fn a_value_is_never_called_a_key() {
    for (text, column) in [
        ("[flags.A]\nenabled = yes\n", 11),
        ("[flags.A]\nrollout = ten\n", 11),
        ("[flags.A]\nrollout = \"ten\"\n", 11),
        ("[flags.A]\nfallback = accept\n", 12),
        (
            "[flags.A]\nconstraints = [{ label = region, operator = \"IN\", values = [] }]\n",
            26,
        ),
    ] {
        let error = error(text);
        assert_eq!(error.flag(), Some("A"), "{text:?}: {error}");
        assert_eq!(error.line(), 2, "{text:?}: {error}");
        assert_eq!(error.column(), column, "{text:?}: {error}");
        if let Some(key) = error.key() {
            assert!(
                ["enabled", "rollout", "fallback", "label"].contains(&key),
                "{text:?}: a value called a key: {error}"
            );
        }
    }
}

#[test]
fn a_misspelt_key_is_named_with_the_keys_it_could_be() {
    let error = error("[flags.A]\nenabled = true\n\n[flags.B]\nrolout = 5\n");
    assert_eq!(
        (error.line(), error.column(), error.flag(), error.key()),
        (5, 1, Some("B"), Some("rolout"))
    );
    assert!(error.message().contains("`rollout`"), "{error}");
}
