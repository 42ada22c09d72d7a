//! Tests of the crowd commands' work: simulate then aggregate, the positive class, Zooniverse
//! exports, gold files, and errors that name the file and the question.

use super::*;

#[test]
fn simulate_then_aggregate_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("votes.csv");
    let n = simulate_to_csv(
        &csv,
        "smooth-or-featured",
        50,
        5,
        20,
        QualityPreset::Good,
        1,
    )
    .unwrap();
    assert_eq!(n, 250);
    let labels = dir.path().join("labels.csv");
    let opts = AggregateOptions {
        out: Some(&labels),
        ..AggregateOptions::default()
    };
    let a = aggregate_file(&csv, Strategy::DawidSkene, &opts).unwrap();
    assert_eq!((a.galaxies, a.votes, a.format), (50, 250, "csv"));
    assert!(a.read_seconds > 0.0 && a.positive.is_none());
    let text = std::fs::read_to_string(&labels).unwrap();
    assert_eq!(text.lines().count(), 51);
    assert!(text.starts_with("galaxy,label,p_"), "{text}");
    let opts = AggregateOptions {
        question: Some("bar"),
        ..AggregateOptions::default()
    };
    let e = aggregate_file(&csv, Strategy::Wawa, &opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no question `bar`"), "{e}");
    // --positive on a strategy without a positive class; swap on 3 answers.
    let opts = AggregateOptions {
        positive: Some("smooth"),
        ..AggregateOptions::default()
    };
    let e = aggregate_file(&csv, Strategy::Wawa, &opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("does not use a positive class") && e.contains("swap"),
        "{e}"
    );
    let e = aggregate_file(&csv, Strategy::Swap, &AggregateOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("exactly 2 answers") && e.contains("`smooth`"),
        "{e}"
    );
}

#[test]
fn positive_class_rules() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // Answers are numbered alphabetically: "no" = 0, "yes" = 1.
    assert_eq!(
        positive_class("swap", &s(&["no", "yes"]), None, true).unwrap(),
        Some(1)
    );
    assert_eq!(
        positive_class("swap", &s(&["0", "1"]), None, true).unwrap(),
        Some(1)
    );
    assert_eq!(
        positive_class("swap", &s(&["False", "True"]), None, true).unwrap(),
        Some(1)
    );
    assert_eq!(
        positive_class("swap", &s(&["no", "yes"]), Some("no"), true).unwrap(),
        Some(0)
    );
    let e = positive_class("swap", &s(&["bar", "no-bar"]), None, true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("--positive") && e.contains("`no-bar`"), "{e}");
    assert_eq!(
        positive_class("kos", &s(&["bar", "no-bar"]), None, false).unwrap(),
        None
    );
    let e = positive_class("swap", &s(&["no", "yes"]), Some("maybe"), true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`maybe`") && e.contains("`no`, `yes`"), "{e}");
}

/// A Panoptes classification export with two tasks: T0 (Yes / No, with a Markdown image in
/// the answer text) and T1 (three answers); galaxy 11 is a clear "Yes", 12 a clear "No".
fn export_fixture(dir: &Path) -> std::path::PathBuf {
    let mut s = String::from(
        "classification_id,user_id,workflow_version,created_at,annotations,subject_ids\n",
    );
    let rows = [
        (1, "u1", 11, "Yes", "Round"),
        (2, "u2", 11, "Yes", "Round"),
        (3, "u3", 11, "Yes", "Cigar"),
        (4, "u1", 12, "No", "Cigar"),
        (5, "u2", 12, "No", "Cigar"),
        (6, "", 12, "No", "In between"),
        (7, "u3", 13, "Yes", "Round"),
        (8, "u1", 13, "No", "Round"),
    ];
    for (id, user, subject, t0, t1) in rows {
        let t0 = if t0 == "Yes" {
            "![yes.png](https://x.org/yes.png) Yes".to_string()
        } else {
            t0.to_string()
        };
        s.push_str(&format!(
            "{id},{user},1.2,2018-02-20 10:44:{id:02} UTC,\"[{{\"\"task\"\":\"\"T0\"\",\
             \"\"value\"\":\"\"{t0}\"\"}},{{\"\"task\"\":\"\"T1\"\",\"\"value\"\":\"\"{t1}\"\"}}]\",\
             {subject}\n"
        ));
    }
    let p = dir.join("export.csv");
    std::fs::write(&p, s).unwrap();
    p
}

fn labels(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(String::from).collect())
        .collect()
}

#[test]
fn zooniverse_export_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let export = export_fixture(dir.path());
    let e = aggregate_file(
        &export,
        Strategy::MajorityVote,
        &AggregateOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("2 questions (`T0`, `T1`)") && e.contains("--question"),
        "{e}"
    );
    let out = dir.path().join("t1.csv");
    let opts = AggregateOptions {
        question: Some("T1"),
        out: Some(&out),
        ..AggregateOptions::default()
    };
    let a = aggregate_file(&export, Strategy::MajorityVote, &opts).unwrap();
    assert_eq!((a.format, a.galaxies, a.votes), ("panoptes-csv", 3, 8));
    assert_eq!(a.answers, vec!["Cigar", "In between", "Round"]);
    let l = labels(&out);
    assert_eq!(
        l[0],
        vec!["galaxy", "label", "p_Cigar", "p_In between", "p_Round"]
    );
    assert_eq!((l[1][0].as_str(), l[1][1].as_str()), ("11", "Round"));
    assert_eq!((l[2][0].as_str(), l[2][1].as_str()), ("12", "Cigar"));
    // SWAP on T0: "Yes" is the positive class without --positive (answers [No, Yes]).
    let out = dir.path().join("t0.csv");
    let opts = AggregateOptions {
        question: Some("T0"),
        format: InputFormat::Zooniverse,
        out: Some(&out),
        ..AggregateOptions::default()
    };
    let a = aggregate_file(&export, Strategy::Swap, &opts).unwrap();
    assert_eq!(a.positive.as_deref(), Some("Yes"));
    let yes = labels(&out);
    assert_eq!(yes[0], vec!["galaxy", "label", "p_No", "p_Yes"]);
    assert_eq!((yes[1][1].as_str(), yes[2][1].as_str()), ("Yes", "No"));
    // Galaxy 13 (one Yes, one No): prior 0.3 on the positive class keeps it below 1/2.
    let p_yes: f64 = yes[3][3].parse().unwrap();
    assert!(p_yes < 0.5 && yes[3][1] == "No", "{:?}", yes[3]);
    // With "No" positive the prior favours "Yes" on the undecided galaxy.
    let opts = AggregateOptions {
        positive: Some("No"),
        ..opts
    };
    let a = aggregate_file(&export, Strategy::Swap, &opts).unwrap();
    assert_eq!(a.positive.as_deref(), Some("No"));
    let no = labels(&out);
    assert_eq!(no[3][1], "Yes", "{:?}", no[3]);
    let opts = AggregateOptions {
        positive: Some("Maybe"),
        ..opts
    };
    let e = aggregate_file(&export, Strategy::Swap, &opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`Maybe`") && e.contains("`No`, `Yes`"), "{e}");
    // The same votes as flattened JSON lines are read the same way.
    let flat = dir.path().join("flat.json");
    let mut s = String::new();
    for (u, g, r) in [("u1", "11", "Yes"), ("u2", "11", "Yes"), ("u1", "12", "No")] {
        s.push_str(&format!(
            "{{\"user_id\":\"{u}\",\"subject_id\":\"{g}\",\"question\":\"T0\",\
             \"response\":\"{r}\",\"created_at\":\"2019-12-04T20:48:11.904Z\"}}\n"
        ));
    }
    std::fs::write(&flat, s).unwrap();
    let a = aggregate_file(&flat, Strategy::MajorityVote, &AggregateOptions::default()).unwrap();
    assert_eq!((a.format, a.galaxies, a.votes), ("panoptes-flat", 2, 3));
    // An unknown header names the formats it expected.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "a,b\n1,2\n").unwrap();
    let e = aggregate_file(&bad, Strategy::MajorityVote, &AggregateOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(":1:") && e.contains("Panoptes classification export"),
        "{e}"
    );
}

#[test]
fn gold_file_sets_known_labels() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("v.csv");
    // v1 agrees with the gold galaxy g1, v2 does not: on g2 v1's answer wins.
    std::fs::write(
        &csv,
        "volunteer,galaxy,question,answer\nv1,g1,q,a\nv2,g1,q,b\nv1,g2,q,a\nv2,g2,q,b\n",
    )
    .unwrap();
    let gold = dir.path().join("gold.csv");
    std::fs::write(&gold, "galaxy,answer\ng1,a\nelsewhere,b\n").unwrap();
    let out = dir.path().join("l.csv");
    let opts = AggregateOptions {
        gold: Some(&gold),
        out: Some(&out),
        ..AggregateOptions::default()
    };
    aggregate_file(&csv, Strategy::GoldMajorityVote, &opts).unwrap();
    let l = labels(&out);
    assert_eq!((l[2][0].as_str(), l[2][1].as_str()), ("g2", "a"));
    std::fs::write(&gold, "galaxy,answer\ng1,c\n").unwrap();
    let e = aggregate_file(&csv, Strategy::GoldMajorityVote, &opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("gold.csv:2:") && e.contains("`c`"), "{e}");
}

/// Found by `tests/fuzz_readers`: a file whose question has a single answer was refused
/// without naming the file or the question.
#[test]
fn one_answer_question_names_file_and_question() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("v.csv");
    std::fs::write(
        &csv,
        "volunteer,galaxy,question,answer\nv1,g1,q,a\nv2,g2,q,a\nv1,g1,r,b\n",
    )
    .unwrap();
    let opts = AggregateOptions {
        question: Some("q"),
        ..AggregateOptions::default()
    };
    let e = aggregate_file(&csv, Strategy::MajorityVote, &opts)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "invalid crowd config: {}: question `q`: a question needs at least 2 answers, got 1",
            csv.display()
        )
    );
}
