//! The seeded openmls provider must give byte-identical MLS traffic for the same seed.
//!
//! One flow between three parties (alice, bob, carol) exercises group creation, a KeyPackage,
//! an Add commit with a Welcome, an external commit from an exported GroupInfo and ratchet tree,
//! a Remove commit and an application message. Every message crosses between parties as bytes,
//! and the flow returns those bytes in order so that runs can be compared.

use mimimi_sim::crypto::{
    derive_seed, signature_keys_from_seed, stream_seed, SimProvider, SimSigner, CIPHERSUITE,
};
use openmls::prelude::*;
use tls_codec::Deserialize as _;

/// Fixed leaf lifetime (2020-09-13 to 2100-01-01), so that no leaf reads the wall clock.
/// openmls still checks received lifetimes against the current time, which this range covers.
const NOT_BEFORE: u64 = 1_600_000_000;
const NOT_AFTER: u64 = 4_102_444_800;

const GROUP_ID: &[u8] = b"mimi://a.example/r/determinism";
const PLAINTEXT: &[u8] = b"hello carol, bob is gone";

fn lifetime() -> Lifetime {
    Lifetime::init(NOT_BEFORE, NOT_AFTER)
}

fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build()
}

/// One client: its own seeded provider, Ed25519 keys and basic credential.
struct Party {
    provider: SimProvider,
    signer: SimSigner,
    credential: CredentialWithKey,
}

impl Party {
    fn new(seed: u64, name: &str) -> Self {
        let client_seed = stream_seed(seed, 0, &format!("client/{name}/1"));
        let signer = signature_keys_from_seed(derive_seed(&client_seed, b"sig"));
        let basic = BasicCredential::new(format!("mimi://a.example/d/{name}/1").into_bytes());
        let credential = CredentialWithKey {
            credential: basic.into(),
            signature_key: signer.public().into(),
        };
        Self {
            provider: SimProvider::new(client_seed),
            signer,
            credential,
        }
    }
}

/// The ordered record of everything put on the wire.
#[derive(Default)]
struct Wire(Vec<Vec<u8>>);

impl Wire {
    /// Serializes `msg`, records the bytes and returns them for the receiver.
    fn send(&mut self, msg: &impl tls_codec::Serialize) -> Vec<u8> {
        let bytes = msg.tls_serialize_detached().expect("serialize");
        self.0.push(bytes.clone());
        bytes
    }
}

/// What a receiver gets from the bytes of an `MlsMessageOut`.
fn receive(bytes: &[u8]) -> MlsMessageBodyIn {
    MlsMessageIn::tls_deserialize_exact(bytes)
        .expect("deserialize MlsMessageIn")
        .extract()
}

fn receive_protocol(bytes: &[u8]) -> ProtocolMessage {
    MlsMessageIn::tls_deserialize_exact(bytes)
        .expect("deserialize MlsMessageIn")
        .try_into_protocol_message()
        .expect("a protocol message")
}

/// Processes a commit from the bytes and merges it; returns whether the receiver was removed.
fn process_commit(group: &mut MlsGroup, party: &Party, bytes: &[u8]) -> bool {
    let processed = group
        .process_message(&party.provider, receive_protocol(bytes))
        .expect("process commit");
    let ProcessedMessageContent::StagedCommitMessage(staged) = processed.into_content() else {
        panic!("expected a commit");
    };
    let removed = staged.self_removed();
    group
        .merge_staged_commit(&party.provider, *staged)
        .expect("merge staged commit");
    removed
}

/// Asserts that every listed member derived the same epoch authenticator.
fn assert_same_epoch(step: &str, groups: &[&MlsGroup]) {
    let first = groups[0];
    for g in &groups[1..] {
        assert_eq!(g.epoch(), first.epoch(), "{step}: epochs differ");
        assert_eq!(
            g.epoch_authenticator().as_slice(),
            first.epoch_authenticator().as_slice(),
            "{step}: epoch authenticators differ"
        );
    }
}

/// One full three-party MLS flow; returns every serialized message in order.
fn flow(seed: u64) -> Vec<Vec<u8>> {
    let mut wire = Wire::default();
    let alice = Party::new(seed, "alice");
    let bob = Party::new(seed, "bob");
    let carol = Party::new(seed, "carol");

    // Alice creates the group.
    let mut alice_group = MlsGroup::builder()
        .with_group_id(GroupId::from_slice(GROUP_ID))
        .ciphersuite(CIPHERSUITE)
        .with_wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .lifetime(lifetime())
        .build(&alice.provider, &alice.signer, alice.credential.clone())
        .expect("alice creates the group");

    // Bob publishes a KeyPackage.
    let bob_kp = KeyPackage::builder()
        .key_package_lifetime(lifetime())
        .build(
            CIPHERSUITE,
            &bob.provider,
            &bob.signer,
            bob.credential.clone(),
        )
        .expect("bob's key package")
        .key_package()
        .clone();
    let kp_bytes = wire.send(&MlsMessageOut::from(bob_kp));

    // Alice adds bob.
    let MlsMessageBodyIn::KeyPackage(kp_in) = receive(&kp_bytes) else {
        panic!("expected a KeyPackage");
    };
    let bob_kp = kp_in
        .validate(alice.provider.crypto(), ProtocolVersion::Mls10)
        .expect("bob's key package validates");
    let (commit, welcome, group_info) = alice_group
        .add_members(&alice.provider, &alice.signer, &[bob_kp])
        .expect("alice adds bob");
    wire.send(&commit);
    let welcome_bytes = wire.send(&welcome);
    if let Some(gi) = group_info {
        wire.send(&MlsMessageOut::from(gi));
    }
    alice_group
        .merge_pending_commit(&alice.provider)
        .expect("alice merges the add");

    // Bob joins from the Welcome.
    let MlsMessageBodyIn::Welcome(welcome) = receive(&welcome_bytes) else {
        panic!("expected a Welcome");
    };
    let mut bob_group =
        StagedWelcome::new_from_welcome(&bob.provider, &join_config(), welcome, None)
            .expect("bob stages the welcome")
            .into_group(&bob.provider)
            .expect("bob joins");
    assert_same_epoch("add bob", &[&alice_group, &bob_group]);

    // Carol joins by external commit from alice's GroupInfo and ratchet tree.
    let gi_bytes = wire.send(
        &alice_group
            .export_group_info(alice.provider.crypto(), &alice.signer, false)
            .expect("alice exports the group info"),
    );
    let tree_bytes = wire.send(&alice_group.export_ratchet_tree());
    let MlsMessageBodyIn::GroupInfo(verifiable_gi) = receive(&gi_bytes) else {
        panic!("expected a GroupInfo");
    };
    let tree = RatchetTreeIn::tls_deserialize_exact(&tree_bytes).expect("deserialize tree");
    let (mut carol_group, bundle) = MlsGroup::external_commit_builder()
        .with_ratchet_tree(tree)
        .with_config(join_config())
        .build_group(&carol.provider, verifiable_gi, carol.credential.clone())
        .expect("carol builds the group")
        .load_psks(carol.provider.storage())
        .expect("carol loads psks")
        .build(
            carol.provider.rand(),
            carol.provider.crypto(),
            &carol.signer,
            |_| true,
        )
        .expect("carol builds the external commit")
        .finalize(&carol.provider)
        .expect("carol finalizes the external commit");
    let ext_bytes = wire.send(bundle.commit());
    assert!(!process_commit(&mut alice_group, &alice, &ext_bytes));
    assert!(!process_commit(&mut bob_group, &bob, &ext_bytes));
    assert_same_epoch("carol joins", &[&alice_group, &bob_group, &carol_group]);
    assert_eq!(alice_group.members().count(), 3);

    // Alice removes bob.
    let bob_index = bob_group.own_leaf_index();
    let (commit, welcome, group_info) = alice_group
        .remove_members(&alice.provider, &alice.signer, &[bob_index])
        .expect("alice removes bob");
    assert!(welcome.is_none(), "a removal has no Welcome");
    let remove_bytes = wire.send(&commit);
    if let Some(gi) = group_info {
        wire.send(&MlsMessageOut::from(gi));
    }
    alice_group
        .merge_pending_commit(&alice.provider)
        .expect("alice merges the removal");
    assert!(!process_commit(&mut carol_group, &carol, &remove_bytes));
    assert!(process_commit(&mut bob_group, &bob, &remove_bytes));
    assert!(!bob_group.is_active(), "bob knows he was removed");
    assert_same_epoch("remove bob", &[&alice_group, &carol_group]);
    assert_eq!(alice_group.members().count(), 2);

    // Alice sends an application message; carol decrypts it.
    let app = alice_group
        .create_message(&alice.provider, &alice.signer, PLAINTEXT)
        .expect("alice encrypts");
    let app_bytes = wire.send(&app);
    let processed = carol_group
        .process_message(&carol.provider, receive_protocol(&app_bytes))
        .expect("carol decrypts");
    let ProcessedMessageContent::ApplicationMessage(msg) = processed.into_content() else {
        panic!("expected an application message");
    };
    assert_eq!(msg.into_bytes(), PLAINTEXT);

    wire.0
}

/// Index of the first message where the runs differ (or the shorter length).
fn first_difference(a: &[Vec<u8>], b: &[Vec<u8>]) -> Option<usize> {
    (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i))
}

fn assert_same(what: &str, a: &[Vec<u8>], b: &[Vec<u8>]) {
    if let Some(i) = first_difference(a, b) {
        panic!(
            "{what}: message {i} is the first to differ (lengths {} and {})",
            a.len(),
            b.len()
        );
    }
}

// Message positions in the flow: 0 KeyPackage, 1 add commit, 2 Welcome, 3 GroupInfo of the
// add commit, 4 exported GroupInfo, 5 ratchet tree, 6 external commit, 7 remove commit,
// 8 GroupInfo of the remove commit, 9 application message.
const KEY_PACKAGE: usize = 0;
const ADD_COMMIT: usize = 1;
const EXTERNAL_COMMIT: usize = 6;
const REMOVE_COMMIT: usize = 7;

#[test]
fn same_seed_same_bytes() {
    let a = flow(7);
    let b = flow(7);
    assert!(a.len() > 8, "only {} messages", a.len());
    assert_eq!(a.len(), 10, "message layout changed");
    assert_same("two runs with seed 7", &a, &b);
}

#[test]
fn other_seed_other_bytes() {
    let a = flow(7);
    let b = flow(8);
    assert_eq!(a.len(), b.len());
    for (name, i) in [
        ("key package", KEY_PACKAGE),
        ("add commit", ADD_COMMIT),
        ("external commit", EXTERNAL_COMMIT),
        ("remove commit", REMOVE_COMMIT),
        ("application message", a.len() - 1),
    ] {
        assert_ne!(
            a[i], b[i],
            "{name} (message {i}) is equal for seeds 7 and 8"
        );
    }
}

#[test]
fn deterministic_across_threads() {
    let spawned = std::thread::spawn(|| flow(7))
        .join()
        .expect("flow on a spawned thread");
    let main = flow(7);
    assert_same("main thread vs spawned thread", &main, &spawned);
}
