//! Site pseudonyms and per-study cross-site pseudonyms delivered in envelopes.

use dsf_privacy::envelope::{private_key_from_pem, public_key_from_pem};
use dsf_privacy::linkage::RecordRef;
use dsf_privacy::pseudonym::{
    PseudonymError, SitePseudonymizer, assign_study_pseudonyms, open_study_pseudonyms,
    seal_study_pseudonyms,
};

const KEY: [u8; 32] = {
    let mut k = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        k[i] = i as u8;
        i += 1;
    }
    k
};

#[test]
fn site_pseudonym_known_answer() {
    // Computed independently with Python's hmac module:
    // d = HMAC-SHA256(key, lp("dsf-privacy site pseudonym v1") ‖ lp(site) ‖ lp(purpose)),
    // lp = 8-byte big-endian length prefix; pseudonym = base64url(HMAC-SHA256(d, id)).
    let p = SitePseudonymizer::new(&KEY, "site-a.test", "feasibility").expect("key");
    assert_eq!(
        p.pseudonym("EHR-4711"),
        "SrK_74a7Tk6yHvocCven4yVmT8bt2mz7xJ6y4PYgqN4"
    );
}

#[test]
fn site_pseudonyms_are_stable_and_separated_by_site_and_purpose() {
    let p = SitePseudonymizer::new(&KEY, "site-a", "study-1").expect("key");
    assert_eq!(p.pseudonym("patient-1"), p.pseudonym("patient-1"));
    assert_ne!(p.pseudonym("patient-1"), p.pseudonym("patient-2"));
    let other_purpose = SitePseudonymizer::new(&KEY, "site-a", "study-2").expect("key");
    let other_site = SitePseudonymizer::new(&KEY, "site-b", "study-1").expect("key");
    let other_key = SitePseudonymizer::new(&[7; 32], "site-a", "study-1").expect("key");
    for q in [other_purpose, other_site, other_key] {
        assert_ne!(q.pseudonym("patient-1"), p.pseudonym("patient-1"));
    }
    assert!(matches!(
        SitePseudonymizer::new(&[0; 16], "s", "p"),
        Err(PseudonymError::KeyTooShort(16))
    ));
}

#[test]
fn study_pseudonyms_reach_only_their_site() {
    let r = |dataset, row| RecordRef { dataset, row };
    let groups = vec![
        vec![r(0, 0), r(1, 2)],
        vec![r(0, 1)],
        vec![r(1, 0), r(0, 2)],
    ];
    let assigned = assign_study_pseudonyms(&groups).expect("random");
    let unique: std::collections::HashSet<_> = assigned.iter().map(|g| &g.pseudonym).collect();
    assert_eq!(unique.len(), 3);
    let again = assign_study_pseudonyms(&groups).expect("random");
    assert_ne!(
        again[0].pseudonym, assigned[0].pseudonym,
        "a new study gets new pseudonyms"
    );

    let pem = |n: &str| crate::read_data(&format!("keys/{n}"));
    let a = public_key_from_pem(&pem("site-a.pub.pem")).expect("key");
    let b = public_key_from_pem(&pem("site-b.pub.pem")).expect("key");
    let sealed = seal_study_pseudonyms(
        "ttp",
        "study-42",
        &assigned,
        &[("site-a", &a), ("site-b", &b)],
    )
    .expect("seal");
    let key_a = private_key_from_pem(&pem("site-a.key.pem")).expect("key");
    let key_b = private_key_from_pem(&pem("site-b.key.pem")).expect("key");
    let list_a = open_study_pseudonyms(&sealed[0], "site-a", &key_a).expect("open a");
    assert_eq!(list_a.study, "study-42");
    assert_eq!(
        list_a.rows,
        vec![
            (0, assigned[0].pseudonym.clone()),
            (1, assigned[1].pseudonym.clone()),
            (2, assigned[2].pseudonym.clone()),
        ]
    );
    let list_b = open_study_pseudonyms(&sealed[1], "site-b", &key_b).expect("open b");
    assert_eq!(
        list_b.rows,
        vec![
            (0, assigned[2].pseudonym.clone()),
            (2, assigned[0].pseudonym.clone())
        ]
    );
    // Site b cannot read site a's list.
    assert!(open_study_pseudonyms(&sealed[0], "site-b", &key_b).is_err());
    assert!(matches!(
        seal_study_pseudonyms("ttp", "s", &assigned, &[("site-a", &a)]),
        Err(PseudonymError::UnknownDataset(1, 1))
    ));
}
