//! `create_args` from a manifest: split by shell quoting rules, then checked. The
//! result is argv for the runtime, never text for a shell, so `$(reboot)` or `; rm -rf /`
//! arrive as literal arguments. In Digi's format they are engine options only (the
//! image comes from the payload), so naming no image is fine.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateArgsError {
    #[error("create_args: unbalanced quotes")]
    Quotes,
    #[error("create_args: {0} is berthd's business and not allowed (berthd restarts containers by policy)")]
    Restart(String),
    #[error("create_args: {0} is not allowed (a managed container must outlive its exit)")]
    Remove(String),
}

/// Splits and checks `create_args`.
pub fn split_create_args(text: &str) -> Result<Vec<String>, CreateArgsError> {
    let argv = shell_words::split(text).map_err(|_| CreateArgsError::Quotes)?;
    for arg in &argv {
        if arg == "--restart" || arg.starts_with("--restart=") {
            return Err(CreateArgsError::Restart(arg.clone()));
        }
        if arg == "--rm" || arg.starts_with("--rm=") {
            return Err(CreateArgsError::Remove(arg.clone()));
        }
    }
    Ok(argv)
}

/// The value of `--name` in `args`, if any.
pub fn name_arg(args: &[String]) -> Option<&str> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--name" {
            return it.next().map(String::as_str);
        }
        if let Some(v) = a.strip_prefix("--name=") {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_rules_apply_and_shell_tricks_stay_literal() {
        let argv = split_create_args(
            r#"--env 'A=$(reboot)' --label "x=; rm -rf /" localhost/app:1 sh -c 'echo hi'"#,
        )
        .unwrap();
        assert_eq!(
            argv,
            [
                "--env",
                "A=$(reboot)",
                "--label",
                "x=; rm -rf /",
                "localhost/app:1",
                "sh",
                "-c",
                "echo hi"
            ]
        );
    }

    #[test]
    fn restart_and_rm_are_refused() {
        for bad in ["--restart=always img", "--restart always img", "--rm img"] {
            assert!(split_create_args(bad).is_err(), "{bad}");
        }
        assert_eq!(
            split_create_args("--name 'x img"),
            Err(CreateArgsError::Quotes)
        );
        assert_eq!(
            split_create_args("--privileged --network host --tty").unwrap(),
            ["--privileged", "--network", "host", "--tty"]
        );
    }
}
