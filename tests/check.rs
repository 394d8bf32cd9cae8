//! `runbook check`: valid files pass, and every kind of bad input gets a diagnostic that names
//! the file, line and column, shows the line with a caret and says what to do.

use crate::support::{Runbook, Scratch, assert_contains, fixture, stable};

/// Checks one bad fixture: exit code 3 and the exact diagnostic.
fn bad(name: &str) -> String {
    let path = format!("tests/fixtures/bad/{name}.yaml");
    let outcome = Runbook::new(["check", &path]).run();
    assert_eq!(outcome.code, 3, "{name}: {outcome:?}");
    assert!(
        outcome.stdout.is_empty(),
        "{name}: nothing on stdout: {}",
        outcome.stdout
    );
    assert!(
        outcome.stderr.contains(&path),
        "{name}: the file is named: {}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("help:"),
        "{name}: says what to do: {}",
        outcome.stderr
    );
    assert!(!outcome.stderr.contains("panicked"), "{name}: no panic");
    outcome.stderr
}

macro_rules! bad_input {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let stderr = bad(stringify!($name));
                stable().bind(|| insta::assert_snapshot!(stringify!($name), stderr));
            }
        )*
    };
}

bad_input!(
    yaml_syntax,
    unknown_key,
    wrong_type,
    duplicate_step_id,
    duplicate_key,
    undefined_variable,
    used_before_capture,
    invalid_jsonpath,
    invalid_regex,
    unknown_service,
    template_syntax,
    no_action,
    bad_duration,
    bad_condition,
    alias_bomb,
    empty,
);

#[test]
fn shipped_runbooks_are_valid() {
    let outcome = Runbook::new(["check", "runbooks/cloudflare-access-service-token.yaml"]).run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(
        outcome
            .stdout
            .starts_with("ok  runbooks/cloudflare-access-service-token.yaml")
    );
}

#[test]
fn several_files_fail_when_one_is_invalid() {
    let outcome = Runbook::new([
        "check",
        "runbooks/cloudflare-access-service-token.yaml",
        "tests/fixtures/bad/unknown_key.yaml",
    ])
    .run();
    assert_eq!(outcome.code, 3);
    assert!(
        outcome.stdout.contains("1 of 2 files valid"),
        "{}",
        outcome.stdout
    );
    assert_contains(&outcome.stderr, "unknown key `titel`");
}

#[test]
fn missing_file_is_named() {
    let outcome = Runbook::new(["check", "runbooks/nope.yaml"]).run();
    assert_eq!(outcome.code, 3);
    assert!(
        outcome
            .stderr
            .contains("runbooks/nope.yaml: cannot read the file: no such file"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn non_utf8_file_is_rejected_with_its_position() {
    let scratch = Scratch::new();
    let path = scratch.write("latin1.yaml", b"runbook: x\ntitle: caf\xe9\nsteps: []\n");
    let outcome = Runbook::new(["check"])
        .arg(path.display().to_string())
        .run();
    assert_eq!(outcome.code, 3);
    assert!(
        outcome
            .stderr
            .contains("not valid UTF-8: invalid byte 0xe9 at line 2, column 11"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn oversized_file_is_rejected_before_parsing() {
    let scratch = Scratch::new();
    let mut text = String::from("runbook: big\ntitle: Big\nsteps: []\n");
    while text.len() <= 4 * 1024 * 1024 {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    let path = scratch.write("big.yaml", text);
    let outcome = Runbook::new(["check"])
        .arg(path.display().to_string())
        .run();
    assert_eq!(outcome.code, 3);
    assert!(
        outcome.stderr.contains("error[RB004]"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("limited to 4194304 bytes"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_device_is_refused_before_it_is_read() {
    // /dev/zero never ends and a terminal waits for typing: a runbook is a file, or a pipe.
    let outcome = Runbook::new(["check", "/dev/zero"]).run();
    assert_eq!(outcome.code, 3, "{}", outcome.stderr);
    assert_contains(&outcome.stderr, "error[RB001]");
    assert_contains(
        &outcome.stderr,
        "/dev/zero: this is a character device, not a regular file",
    );
}

#[test]
fn an_endless_pipe_is_cut_off_at_the_size_limit() {
    let scratch = Scratch::new();
    let fifo = make_fifo(&scratch, "endless.yaml");
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut pipe = std::fs::OpenOptions::new().write(true).open(fifo)?;
            let chunk = [b'#'; 65536];
            // Until the reader goes away (a broken pipe): the limit holds while reading.
            loop {
                pipe.write_all(&chunk)?;
            }
            #[allow(unreachable_code)]
            std::io::Result::Ok(())
        })
    };
    let outcome = Runbook::new(["check"])
        .arg(fifo.display().to_string())
        .run();
    assert!(
        writer.join().unwrap().is_err(),
        "the reader stopped reading"
    );
    assert_eq!(outcome.code, 3, "{}", outcome.stderr);
    assert_contains(&outcome.stderr, "error[RB004]");
    assert_contains(
        &outcome.stderr,
        "endless.yaml: the file is longer than the limit; runbooks are limited to 4194304 bytes",
    );
}

/// Makes a FIFO (a named pipe) in the scratch directory.
fn make_fifo(scratch: &Scratch, name: &str) -> std::path::PathBuf {
    let fifo = scratch.dir.path().join(name);
    crate::support::make_fifo(&fifo);
    fifo
}

#[test]
fn a_fifo_that_nothing_writes_to_is_refused_by_every_verb_without_waiting() {
    let scratch = Scratch::new();
    let fifo = scratch.dir.path().join("fifo.yaml");
    crate::support::idle_fifo(&fifo);
    let fifo = fifo.display().to_string();
    let valid = "runbooks/cloudflare-user-api-token.yaml";
    let started = std::time::Instant::now();
    for command in [
        vec!["check", &fifo],
        vec!["plan", &fifo],
        vec!["exec", &fifo, "--yes"],
        vec!["render", &fifo],
        vec!["diff", &fifo, valid],
        vec!["diff", valid, &fifo],
    ] {
        let outcome = Runbook::new(&command).home(&scratch.home).run();
        assert_eq!(outcome.code, 3, "{command:?}: {}", outcome.stderr);
        assert_contains(&outcome.stderr, "error[RB001]");
        assert_contains(
            &outcome.stderr,
            "fifo.yaml: this is a FIFO (named pipe) that nothing was writing to when it was opened (start the writer first, or pass `<(command)`), not a regular file",
        );
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "a verb waited for a writer"
    );
}

#[test]
fn a_runbook_can_come_through_a_pipe() {
    // As with `runbook check <(generate)`: a file with no size on disk, read to its end.
    let scratch = Scratch::new();
    let fifo = make_fifo(&scratch, "pipe.yaml");
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            std::fs::write(
                fifo,
                "runbook: piped\ntitle: Piped\nsteps:\n  - id: a\n    title: A\n    manual: Do it.\n",
            )
        })
    };
    let outcome = Runbook::new(["check"])
        .arg(fifo.display().to_string())
        .run();
    writer.join().unwrap().unwrap();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
}

#[test]
fn utf16_is_named_as_such() {
    let scratch = Scratch::new();
    let text: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("runbook: x\n".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let path = scratch.write("utf16.yaml", text);
    let outcome = Runbook::new(["check"])
        .arg(path.display().to_string())
        .run();
    assert_eq!(outcome.code, 3);
    assert!(
        outcome.stderr.contains("error[RB003]")
            && outcome.stderr.contains(
                "utf16.yaml: the file is UTF-16 (it starts with a UTF-16 byte-order mark), not UTF-8"
            ),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("save the file as UTF-8"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_line_too_long_to_show_is_named_with_its_position() {
    let scratch = Scratch::new();
    let text = format!("runbook: x\ntitle: {}\nstepz: []\n", "a".repeat(300_000));
    let path = scratch.write("long.yaml", text);
    let outcome = Runbook::new(["check"])
        .arg(path.display().to_string())
        .run();
    assert_eq!(outcome.code, 3);
    assert_eq!(
        outcome.stderr.lines().next().unwrap().trim(),
        format!(
            "x error[RB006]: {}:3:1: unknown key `stepz`: did you mean `steps`? (line 2 is 300008 bytes long, too long to show)",
            path.display()
        )
    );
    assert!(outcome.stderr.len() < 2_000, "{}", outcome.stderr.len());
}

#[test]
fn a_name_too_long_to_quote_whole_is_shortened() {
    let scratch = Scratch::new();
    let name = format!("v{}", "b".repeat(100_000));
    let text = format!(
        "runbook: x\ntitle: t\nsteps:\n  - id: a\n    title: A\n    http:\n      get: \"https://x.example/{{{{ {name} }}}}\"\n"
    );
    let path = scratch.write("name.yaml", text);
    let outcome = Runbook::new(["check"])
        .arg(path.display().to_string())
        .run();
    assert_eq!(outcome.code, 3);
    assert!(
        outcome.stderr.contains("error[RB013]"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains(":7:"), "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains(" bytes left out ...]"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.len() < 10_000, "{}", outcome.stderr.len());
}

#[test]
fn deep_nesting_hits_the_budget() {
    let scratch = Scratch::new();
    let nested = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let text = format!(
        "runbook: deep\ntitle: Deep\nsteps:\n  - id: a\n    title: A\n    http:\n      post: https://example.com/\n      json: {nested}\n"
    );
    let path = scratch.write("deep.yaml", text);
    let outcome = Runbook::new(["check"])
        .arg(path.display().to_string())
        .run();
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert!(
        outcome.stderr.contains("error[RB004]") || outcome.stderr.contains("error[RB005]"),
        "{}",
        outcome.stderr
    );
}

/// Checks `manual:` text, a `when:` condition and a capture's JSONPath, generated into a
/// runbook: (exit code, stderr).
fn check_generated(manual: &str, when: &str, capture: &str) -> (i32, String) {
    let scratch = Scratch::new();
    let text = format!(
        "runbook: generated\ntitle: Generated\ninputs:\n  x: {{ default: \"1\" }}\nsteps:\n  - id: a\n    title: A\n    manual: '{manual}'\n    when: '{when}'\n  - id: b\n    title: B\n    http: {{ get: \"https://example.com/\" }}\n    capture:\n      v: '{capture}'\n"
    );
    let path = scratch.write("generated.yaml", text);
    let outcome = Runbook::new(["check"])
        .arg(path.display().to_string())
        .run();
    assert!(
        !outcome.stderr.contains("overflow") && !outcome.stderr.contains("panicked"),
        "{}",
        outcome.stderr
    );
    (outcome.code, outcome.stderr)
}

#[test]
fn a_chain_of_thousands_of_operators_is_an_error_not_a_stack_overflow() {
    // minijinja's code generator recurses once per link of such a chain: at 50,000 links
    // the process used to abort (SIGABRT, exit 134) with no diagnostic at all.
    let links = 50_000;
    let chains = [
        format!("{}1", "-".repeat(links)),
        format!("1{}", "+1".repeat(links)),
        format!("x{}", "|trim".repeat(links)),
        format!("x{}", "()".repeat(links)),
        format!("x{}", "[0]".repeat(links)),
        format!("x{}", " ~ x".repeat(links)),
    ];
    for chain in &chains {
        let (code, stderr) = check_generated(&format!("{{{{ {chain} }}}}"), "true", "$.id");
        assert_eq!(code, 3, "{stderr}");
        assert_contains(
            &stderr,
            "invalid template: this `{{ … }}` is too long: more than 1000 names, values and operators; split it, computing its parts in `vars:`",
        );
        let (code, stderr) = check_generated("Do it.", chain, "$.id");
        assert_eq!(code, 3, "{stderr}");
        assert_contains(
            &stderr,
            "invalid expression: this expression is too long: more than 1000 names",
        );
    }
    let block = format!("{{% if x{} %}}y{{% endif %}}", " ~ x".repeat(links));
    let (code, stderr) = check_generated(&block, "true", "$.id");
    assert_eq!(code, 3, "{stderr}");
    assert_contains(&stderr, "this `{% … %}` is too long");
    // A string literal that holds `}}` does not end the tag early.
    let quoted = format!("{{{{ \"}}}}\"{} }}}}", " ~ x".repeat(links));
    let (code, stderr) = check_generated(&quoted, "true", "$.id");
    assert_eq!(code, 3, "{stderr}");
    assert_contains(&stderr, "this `{{ … }}` is too long");
}

#[test]
fn long_expressions_below_the_limit_still_check() {
    // 333 concatenations: 999 tokens with the first name, so within the limit.
    let chain = format!("x{}", " ~ x".repeat(499));
    let (code, stderr) = check_generated(&format!("{{{{ {chain} }}}}"), &chain, "$.id");
    assert_eq!(code, 0, "{stderr}");
    // Many tags, each short, are no problem however many there are.
    let many = "{{ x }} and {{ x ~ 1 }}; ".repeat(5_000);
    let (code, stderr) = check_generated(&many, "true", "$.id");
    assert_eq!(code, 0, "{stderr}");
    // Text in a raw block is not counted, even an unclosed `{{` followed by a long text.
    let raw = format!(
        "{{% raw %}}Go templates write {{{{ .Name{{% endraw %}}, and {}",
        "then some more words ".repeat(500)
    );
    let (code, stderr) = check_generated(&raw, "true", "$.id");
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_jsonpath_nested_past_its_limits_is_refused_at_once() {
    // 100,000 nested brackets used to overflow the parser's stack (exit 134).
    let deep = format!("$[?{}@.a{}]", "(".repeat(100_000), ")".repeat(100_000));
    let (code, stderr) = check_generated("Do it.", "true", &deep);
    assert_eq!(code, 3, "{stderr}");
    assert_contains(&stderr, "error[RB016]");
    assert_contains(
        &stderr,
        "generated.yaml:14:10: this JSONPath nests brackets and parentheses more than 64 deep",
    );
    // Each nested filter made parsing four times slower: 22 took seconds, 30 would take days.
    let filters = |depth: usize| format!("${}.a{}", "[?@".repeat(depth), "]".repeat(depth));
    let (code, stderr) = check_generated("Do it.", "true", &filters(30));
    assert_eq!(code, 3, "{stderr}");
    assert_contains(
        &stderr,
        "error[RB016]: this JSONPath nests filters (`[?…]` in `[?…]`) more than 8 deep",
    );
    assert_contains(&stderr, "generated.yaml:14:10]");
    assert_contains(&stderr, "help: write the path flatter");
    let (code, stderr) = check_generated("Do it.", "true", &filters(8));
    assert_eq!(code, 0, "{stderr}");
    // Brackets inside a string literal are not nesting.
    let quoted = format!("$[\"{}\"]", "[".repeat(200));
    let (code, stderr) = check_generated("Do it.", "true", &quoted);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_template_that_builds_hundreds_of_megabytes_fails_its_step_instead() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "big.yaml",
        "runbook: big\ntitle: Big\nsteps:\n  - id: read-this\n    title: Read this\n    manual: \"{{ ('a' * 100000000) ~ ('a' * 100000000) }}\"\n",
    );
    let outcome = Runbook::new(["exec", path.to_str().unwrap(), "--yes"])
        .home(&scratch.home)
        .run();
    // It used to print all 200,000,000 bytes, after holding three times that in memory.
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert!(
        outcome.stdout.len() < 10_000,
        "{} bytes",
        outcome.stdout.len()
    );
    assert_contains(
        &outcome.stdout,
        "cannot render the instructions: the template does too much: one rendering may take about a million steps or build about 64 MB",
    );
    // A hundredth of that is well within the budget.
    let path = scratch.write(
        "fits.yaml",
        "runbook: fits\ntitle: Fits\nsteps:\n  - id: read-this\n    title: Read this\n    manual: \"{{ ('a' * 1000000) ~ ('b' * 1000000) }}\"\n",
    );
    let outcome = Runbook::new(["exec", path.to_str().unwrap(), "--yes"])
        .home(&scratch.home)
        .run();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stdout.contains(&format!(
        "{}{}",
        "a".repeat(1_000_000),
        "b".repeat(1_000_000)
    )));
}

#[test]
fn a_wait_longer_than_a_day_is_refused_and_calendar_units_are_explained() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "waits.yaml",
        "runbook: waits\ntitle: Waits\nsteps:\n  - id: poll\n    title: Poll\n    http: { get: \"https://example.com/\", timeout: 24h }\n    retry: { attempts: 2, interval: 876000h }\n  - id: later\n    title: Later\n    http: { get: \"https://example.com/\", timeout: 2d }\n",
    );
    let outcome = Runbook::new(["check", path.to_str().unwrap()]).run();
    // A 100-year interval used to pass, and the run then slept until it was killed.
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert_contains(
        &outcome.stderr,
        "error[RB018]: the interval `876000h` is longer than a day",
    );
    assert_contains(&outcome.stderr, "waits.yaml:7:");
    assert_contains(
        &outcome.stderr,
        "invalid timeout `2d`: days, weeks, months and years are not durations here: write hours, e.g. 12h",
    );
    assert!(!outcome.stderr.contains("jiff"), "{}", outcome.stderr);
    assert!(
        !outcome.stderr.contains("`24h`"),
        "24h is allowed: {}",
        outcome.stderr
    );
}

#[test]
fn a_runbook_with_too_many_values_is_told_so_in_words() {
    let scratch = Scratch::new();
    let mut text = String::from("runbook: big\ntitle: Big\nsteps:\n");
    for n in 0..40_000 {
        text.push_str(&format!("  - {{id: s{n}, title: S, manual: m}}\n"));
    }
    let path = scratch.write("big.yaml", text);
    let outcome = Runbook::new(["check", path.to_str().unwrap()]).run();
    assert_eq!(outcome.code, 3, "{outcome:?}");
    // It used to end in the parser's Rust type: "budget breached: Nodes { nodes: 250001 }".
    assert_contains(
        &outcome.stderr,
        "error[RB004]: the YAML exceeds the reader's budget: more than 250000 values\n",
    );
    assert_contains(&outcome.stderr, "big.yaml:35717:10]");
}

#[test]
fn infinity_and_nan_in_a_body_are_refused_with_what_to_write() {
    let scratch = Scratch::new();
    for value in [".inf", "-.inf", ".nan", "1e400"] {
        let path = scratch.write(
            "body.yaml",
            format!(
                "runbook: body\ntitle: Body\nsteps:\n  - id: send\n    title: Send\n    http: {{ post: \"https://example.com/\", json: {{ n: {value} }} }}\n    rollback: None needed.\n"
            ),
        );
        let outcome = Runbook::new(["check", path.to_str().unwrap()]).run();
        assert_eq!(outcome.code, 3, "{outcome:?}");
        assert_contains(
            &outcome.stderr,
            &format!(
                "error[RB007]: `{value}` is infinite or not a number (NaN), which JSON cannot carry"
            ),
        );
        assert_contains(
            &outcome.stderr,
            "help: write a finite number, or quote the value to send it as text",
        );
    }
}

#[test]
fn an_integer_too_large_for_64_bits_is_refused_not_rounded() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "body.yaml",
        r#"runbook: body
title: Body
steps:
  - id: send
    title: Send
    http:
      post: "https://example.com/"
      json:
        fits: 18446744073709551615
        low: -9223372036854775808
        float: 1e22
        quoted: "12345678901234567890123"
        id: 12345678901234567890123
        ids: [1, -99999999999999999999999]
    expect:
      json:
        $.id: 99999999999999999999
    rollback: None needed.
  # 10000000000000000000000 in a comment is not the one below
  - id: again
    title: Again
    http: { post: "https://example.com/", json: { below: -9223372036854775809, big: 1e22 } }
    rollback: None needed.
"#,
    );
    let outcome = Runbook::new(["check", path.to_str().unwrap()]).run();
    assert_eq!(outcome.code, 3, "{outcome:?}");
    // It used to be sent as 1.2345678901234568e22 without a word.
    for (written, sent, at) in [
        ("12345678901234567890123", "1.2345678901234568e+22", "13:13"),
        ("-99999999999999999999999", "-1e+23", "14:18"),
        ("99999999999999999999", "1e+20", "17:15"),
        ("-9223372036854775809", "-9.223372036854776e+18", "22:58"),
    ] {
        assert_contains(
            &outcome.stderr,
            &format!(
                "error[RB007]: `{written}` does not fit in a 64-bit integer, so it would be sent as the approximation {sent}\n    ,-[{}:{at}]",
                path.display()
            ),
        );
    }
    assert_eq!(
        outcome.stderr.matches("error[RB007]").count(),
        4,
        "{}",
        outcome.stderr
    );
    assert_contains(
        &outcome.stderr,
        "help: quote it to send it as text, as APIs take large ids; or write it with a decimal point if an approximate number is meant",
    );
}

#[test]
fn every_error_in_a_file_is_reported_not_just_the_first() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "many.yaml",
        r#"runbook: many
title: Several mistakes
services:
  api: https://api.example.com
steps:
  - id: one
    title: One
    http:
      get: "{{ services.ap }}/a"
  - id: two
    title: Two
    http:
      get: "{{ services.api }}/{{ nope }}"
    capture:
      x: $.[
"#,
    );
    let outcome = Runbook::new(["check"])
        .arg(path.display().to_string())
        .run();
    assert_eq!(outcome.code, 3);
    for code in ["RB015", "RB013", "RB016"] {
        assert!(
            outcome.stderr.contains(code),
            "{code} missing: {}",
            outcome.stderr
        );
    }
}

#[test]
fn json_format_is_machine_readable() {
    let outcome = Runbook::new([
        "check",
        "--format",
        "json",
        "tests/fixtures/bad/unknown_key.yaml",
    ])
    .run();
    assert_eq!(outcome.code, 3);
    let lines = outcome.json_lines();
    assert_eq!(lines.len(), 1);
    let diagnostic = &lines[0]["diagnostics"][0];
    assert_eq!(lines[0]["valid"], false);
    assert_eq!(diagnostic["code"], "RB006");
    assert_eq!(diagnostic["line"], 5);
    assert_eq!(diagnostic["column"], 5);
    assert_eq!(diagnostic["label"], "did you mean `title`?");
}

#[test]
fn a_fixture_path_helper_points_at_real_files() {
    assert!(fixture("bad/unknown_key.yaml").exists());
}

#[test]
fn irreversible_false_is_refused_not_taken_for_a_reason() {
    let scratch = Scratch::new();
    for word in ["false", "no", "true"] {
        let path = scratch.write(
            "irreversible.yaml",
            format!("runbook: a\ntitle: A\nsteps:\n  - id: s\n    title: S\n    http: {{ delete: \"https://x.example/a\" }}\n    irreversible: {word}\n    rollback: none\n"),
        );
        let outcome = Runbook::new(["check", path.to_str().unwrap()]).run();
        assert_eq!(outcome.code, 3, "{outcome:?}");
        // `false` made the step irreversible, with "false" as the reason shown.
        assert_contains(
            &outcome.stderr,
            &format!("error[RB007]: `irreversible` takes the reason, not `{word}`"),
        );
        assert_contains(
            &outcome.stderr,
            "help: for a step that can be undone, leave `irreversible` out",
        );
    }
}

#[test]
fn a_second_yaml_document_is_named_as_such() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "two.yaml",
        "runbook: a\ntitle: A\nsteps:\n  - id: s\n    title: S\n    manual: m\n---\nrunbook: b\n",
    );
    let outcome = Runbook::new(["check", path.to_str().unwrap()]).run();
    assert_eq!(outcome.code, 3, "{outcome:?}");
    // It said "exceeds the reader's budget: 2 documents", with help about aliases.
    assert_contains(
        &outcome.stderr,
        "error[RB005]: the file holds more than one YAML document",
    );
    assert_contains(
        &outcome.stderr,
        "help: a runbook file holds one document; remove the `---` separator or split the file",
    );
}

#[test]
fn a_retry_capped_below_its_interval_and_a_zero_step_timeout_are_refused() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "retry.yaml",
        "runbook: a\ntitle: A\nsteps:\n  - id: s\n    title: S\n    http: { get: \"https://x.example/a\" }\n    timeout: 0s\n    retry: { attempts: 3, interval: 3s, max_interval: 1ms }\n",
    );
    let outcome = Runbook::new(["check", path.to_str().unwrap()]).run();
    assert_eq!(outcome.code, 3, "{outcome:?}");
    // Both passed; the retries then ran every millisecond.
    assert_contains(
        &outcome.stderr,
        "error[RB026]: max_interval 1ms is shorter than the interval",
    );
    assert_contains(&outcome.stderr, "error[RB018]: the step timeout is zero");
}

#[test]
fn a_store_token_written_into_the_runbook_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "store.yaml",
        "runbook: a\ntitle: A\ninputs:\n  v: { env: [V], secret: true }\nservices: { heroku: \"https://api.heroku.com\" }\nsteps:\n  - id: p\n    title: P\n    propagate:\n      values: { A: \"{{ v }}\" }\n      targets:\n        - heroku: { app: my-app, token: e }\n    rollback: none\n",
    );
    let outcome = Runbook::new(["check", path.to_str().unwrap()]).run();
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert_contains(
        &outcome.stderr,
        "error[RB105]: the store's token of step `p` is written into the runbook",
    );
    assert_contains(&outcome.stderr, "store.yaml:12:41]");
}

/// A carriage return or an escape sequence in a title can make a terminal show a DELETE as a
/// harmless check to whoever reviews the plan.
#[test]
fn control_characters_in_a_title_are_refused() {
    let scratch = Scratch::new();
    for (title, shown) in [
        (
            "Delete everything\\r  1. wipe [read-only] Read the status",
            "\\r",
        ),
        ("Read the status\\e[K", "\\u{1b}"),
    ] {
        let path = scratch.write(
            "control.yaml",
            format!("runbook: a\ntitle: A\nsteps:\n  - id: wipe\n    title: \"{title}\"\n    manual: m\n"),
        );
        let outcome = Runbook::new(["check", path.to_str().unwrap()]).run();
        assert_eq!(outcome.code, 3, "{outcome:?}");
        assert_contains(
            &outcome.stderr,
            &format!("error[RB007]: the step's title holds the control character {shown}"),
        );
    }
}

/// The parser notices a tab only where the scalar before it ends, on the line above: the
/// diagnostic points at the tab itself and says to indent with spaces.
#[test]
fn a_tab_in_the_indentation_is_pointed_at_itself() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "tab.yaml",
        "runbook: a\ntitle: A\ninputs:\n  token:\n    secret: true\n\taccount:\n    env: [X]\nsteps:\n  - id: s\n    title: S\n    manual: m\n",
    );
    let outcome = Runbook::new(["check", path.to_str().unwrap()]).run();
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert_contains(&outcome.stderr, "error[RB005]: invalid YAML:");
    assert_contains(&outcome.stderr, "found a tab");
    assert_contains(&outcome.stderr, "tab.yaml:6:1]");
    assert_contains(
        &outcome.stderr,
        "help: YAML indents with spaces only: replace the tab with spaces",
    );
}

/// A carriage return in a one-line text reads as a line break in the rendered Markdown (where
/// `\r<!--` hides every step after it), and a bidirectional override shows a title reversed:
/// both are refused wherever text is shown, each at its place.
#[test]
fn control_and_invisible_characters_are_refused_in_every_shown_text() {
    let scratch = Scratch::new();
    for (runbook, message, place) in [
        (
            "runbook: a\ntitle: A\ninputs:\n  token:\n    description: \"Admin token.\\r\\r<!--\"\n    env: [T]\nsteps:\n  - id: s\n    title: S\n    manual: m\n",
            "error[RB007]: the input's description holds the control character \\r",
            "control.yaml:5:18]",
        ),
        (
            "runbook: a\ntitle: A\nsteps:\n  - id: s\n    title: \"List \\u202eeteled snekot\"\n    manual: m\n",
            "error[RB007]: the step's title holds the invisible character \\u{202e}",
            "control.yaml:5:",
        ),
        (
            "runbook: a\ntitle: A\nsteps:\n  - id: s\n    title: S\n    irreversible: \"Gone.\\r<!--\"\n    manual: m\n",
            "error[RB007]: the irreversible reason holds the control character \\r",
            "control.yaml:6:",
        ),
        (
            "runbook: a\ntitle: A\nsteps:\n  - id: s\n    title: S\n    manual:\n      instructions: \"Do it\\u001b[8m\"\n      confirm: Done?\n",
            "error[RB007]: the manual step's text holds the control character \\u{1b}",
            "control.yaml:7:",
        ),
    ] {
        let path = scratch.write("control.yaml", runbook);
        let outcome = Runbook::new(["check", path.to_str().unwrap()]).run();
        assert_eq!(outcome.code, 3, "{outcome:?}");
        assert_contains(&outcome.stderr, message);
        assert_contains(&outcome.stderr, place);
    }
}

/// RFC 9535 makes match() and search() false for a pattern that is not a valid regex: the
/// capture then matched nothing at run time, with no word of why.
#[test]
fn a_bad_regex_inside_a_jsonpath_function_is_refused() {
    let scratch = Scratch::new();
    for (path, reason) in [
        ("$.a[?match(@.name, '(')].id", "unclosed group"),
        (
            "$.a[?search(@.name, '[z-a]')].id",
            "invalid character class range",
        ),
        ("$.a[?match(@.name, '(?=a)')].id", "look-around"),
    ] {
        let file = scratch.write(
            "regex.yaml",
            format!("runbook: a\ntitle: A\nsteps:\n  - id: s\n    title: S\n    http: {{ get: \"https://x.example/a\" }}\n    capture: {{ x: \"{path}\" }}\n  - id: t\n    title: T\n    manual: \"{{{{ x }}}}\"\n"),
        );
        let outcome = Runbook::new(["check", file.to_str().unwrap()]).run();
        assert_eq!(outcome.code, 3, "{path}: {outcome:?}");
        assert_contains(&outcome.stderr, "error[RB017]: the pattern `");
        assert_contains(&outcome.stderr, reason);
    }
    let fine = scratch.write(
        "regex.yaml",
        "runbook: a\ntitle: A\nsteps:\n  - id: s\n    title: S\n    http: { get: \"https://x.example/a\" }\n    capture: { x: \"$.a[?match(@.name, 'ab.*')].id\" }\n  - id: t\n    title: T\n    manual: \"{{ x }}\"\n",
    );
    let outcome = Runbook::new(["check", fine.to_str().unwrap()]).run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
}

/// minijinja looks filters and tests up when a template renders: a typo failed the run at
/// that step. It is now an error at check, at its place.
#[test]
fn an_unknown_filter_or_test_is_refused_at_check() {
    let scratch = Scratch::new();
    for (written, message) in [
        ("{{ token | lenght }}", "unknown filter `lenght`"),
        (
            "{% if token is defind %}a{% endif %}",
            "unknown test `defind`",
        ),
    ] {
        let path = scratch.write(
            "filters.yaml",
            format!("runbook: a\ntitle: A\ninputs:\n  token: {{ env: [T], secret: true }}\nsteps:\n  - id: s\n    title: S\n    http: {{ get: \"https://x.example/a\", headers: {{ X-A: \"{written}\" }} }}\n"),
        );
        let outcome = Runbook::new(["check", path.to_str().unwrap()]).run();
        assert_eq!(outcome.code, 3, "{outcome:?}");
        assert_contains(
            &outcome.stderr,
            &format!("error[RB012]: invalid template: {message}"),
        );
    }
    // What exists passes: minijinja's own, and ours.
    let path = scratch.write(
        "filters.yaml",
        "runbook: a\ntitle: A\ninputs:\n  token: { env: [T], secret: true }\nsteps:\n  - id: s\n    title: S\n    http: { get: \"https://x.example/a\", headers: { X-A: \"{{ token | lower | b64encode }}{% if token is not defined %}-{% endif %}\" } }\n",
    );
    let outcome = Runbook::new(["check", path.to_str().unwrap()]).run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
}

#[test]
fn a_file_of_only_comments_is_called_what_it_is() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "comments.yaml",
        "# yaml-language-server: $schema=x\n\n  # TODO: write the steps\n",
    );
    let outcome = Runbook::new(["check", path.to_str().unwrap()]).run();
    assert_eq!(outcome.code, 3, "{outcome:?}");
    // It said "the YAML ends early".
    assert_contains(&outcome.stderr, "error[RB002]: ");
    assert_contains(
        &outcome.stderr,
        "comments.yaml: the file holds only comments",
    );
}

#[test]
fn a_lock_key_that_cannot_render_names_its_place() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "lock.yaml",
        "runbook: a\ntitle: A\nlock: \"{{ 1 / 0 }}\"\nsteps:\n  - id: s\n    title: S\n    manual: m\n",
    );
    let outcome = Runbook::new(["exec", path.to_str().unwrap(), "--yes"])
        .home(&scratch.home)
        .run();
    assert_eq!(outcome.code, 4, "{outcome:?}");
    assert_contains(
        &outcome.stderr,
        &format!(
            "runbook: {}:3:7: cannot work out the lock key: invalid operation: unable to calculate 1 / 0; `lock:` must render with the run's inputs",
            path.display()
        ),
    );
}

#[test]
fn a_rollback_note_that_cannot_render_says_so() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "rollback.yaml",
        "runbook: a\ntitle: A\nsteps:\n  - id: s\n    title: S\n    http: { get: \"http://127.0.0.1:9/x\" }\n    rollback: \"Undo {{ 1 / 0 }}\"\n",
    );
    let outcome = Runbook::new(["exec", path.to_str().unwrap(), "--yes"])
        .home(&scratch.home)
        .run();
    assert_eq!(outcome.code, 1, "{outcome:?}");
    // It showed the source alone, as if `{{ 1 / 0 }}` were what to do.
    assert_contains(
        &outcome.stdout,
        "Undo {{ 1 / 0 }} (as written: its values could not be filled in: invalid operation: unable to calculate 1 / 0)",
    );
}

#[test]
fn a_url_that_renders_invalid_is_shown() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "url.yaml",
        "runbook: a\ntitle: A\ninputs:\n  host: { env: [HOST] }\nsteps:\n  - id: s\n    title: S\n    http: { get: \"{{ host }}/tokens\" }\n",
    );
    let outcome = Runbook::new(["exec", path.to_str().unwrap(), "--yes"])
        .home(&scratch.home)
        .env("HOST", "api.example.com")
        .run();
    assert_eq!(outcome.code, 1, "{outcome:?}");
    // It said only "invalid URL: relative URL without a base".
    assert_contains(
        &outcome.stdout,
        "the URL `api.example.com/tokens` is not valid: relative URL without a base (a URL starts with http:// or https://; `{{ services.NAME }}/…` gives one)",
    );
}
