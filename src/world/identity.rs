//! Who a leaf says it is: credentials (real or pseudonymous), signature keys, KeyPackages and
//! KeyPackage sets, registration, and checking the identity links of other members.
//! MIMIMI -01 sections "Pseudonymous credentials", "KeyPackages" and "Identity links".

use openmls::prelude::{
    Credential, CredentialWithKey, Extensions, KeyPackage, LeafNode, MlsMessageOut,
};
use openmls_traits::OpenMlsProvider;
use tls_codec::VLBytes;

use super::mls::{self, mls_err};
use super::wire::{self, Wire};
use super::{draw32, Event, KeyPackageSet, SetTask, SimError, World};
use crate::crypto::signature_keys_from_seed;
use crate::observe::{digest, Kind};
use crate::protocol::{self, PseudonymousCredential, PseudonymousCredentialTbs};

/// A new leaf's credential, signer and leaf extensions.
#[derive(Clone)]
pub(super) struct LeafIdentity {
    pub cwk: CredentialWithKey,
    pub signer: Vec<u8>,
    pub extensions: Extensions<LeafNode>,
}

impl World<'_> {
    /// Registration of a user: its clients register queues and upload KeyPackages, and its
    /// connection-establishment key is published.
    pub(super) fn register(&mut self, user: usize) -> Result<(), SimError> {
        let clients = self.users[user].clients.clone();
        if self.mech.encrypted_queue_ids {
            for &c in &clients {
                let msg = Wire::QueueRegistration(wire::QueueRegistration {
                    queue_id: self.clients[c].queue_id.clone().into(),
                });
                self.client_to_home(c, &msg);
            }
        }
        if self.mech.encrypted_connection_requests || self.mech.pseudonymous_credentials {
            let msg = Wire::EstablishmentKeyPublish(wire::EstablishmentKeyPublish {
                user: self.users[user].uri.clone(),
                key: self.users[user].establishment.public.clone().into(),
            });
            self.client_to_home(clients[0], &msg);
        }
        if self.mech.anonymous_key_packages {
            // Token-indexed sets: each client takes its turn (the first starts the sets).
            for c in clients {
                self.set_turn(c, SetTask::Complete)?;
            }
        } else {
            for _ in 0..self.scenario.key_packages_per_client {
                self.new_set(user, false);
            }
            self.new_set(user, true);
            for c in clients {
                self.upload_missing(c)?;
            }
            self.registered(user);
        }
        self.schedule_last_resort_reupload(user);
        Ok(())
    }

    /// Registration of a device added during the run: its queue, and its KeyPackages. With
    /// token-indexed sets it takes a turn and completes the sets that lack its KeyPackage;
    /// otherwise it uploads KeyPackages for the user's sets that its first sibling has not
    /// entered a room with yet (and the last-resort set), in the sets' order, so that a claim
    /// hands out KeyPackages of one set for all the user's clients.
    pub(super) fn register_device(&mut self, client: usize) -> Result<(), SimError> {
        let user = self.clients[client].user;
        if self.mech.encrypted_queue_ids {
            let msg = Wire::QueueRegistration(wire::QueueRegistration {
                queue_id: self.clients[client].queue_id.clone().into(),
            });
            self.client_to_home(client, &msg);
        }
        if self.mech.anonymous_key_packages {
            return self.set_turn(client, SetTask::Complete);
        }
        let sibling = self.users[user].clients[0];
        let used: std::collections::BTreeSet<&str> = self
            .entries
            .iter()
            .filter(|((_, c), _)| *c == sibling)
            .flat_map(|(_, entries)| entries.iter().flatten())
            .filter(|(_, last_resort)| !last_resort)
            .map(|(label, _)| label.as_str())
            .collect();
        let live: Vec<usize> = (0..self.users[user].sets.len())
            .filter(|&i| !used.contains(self.users[user].sets[i].label.as_str()))
            .collect();
        for i in live {
            self.users[user].sets[i].missing.insert(client);
        }
        self.upload_missing(client)
    }

    /// The number of regular token-indexed sets a user keeps.
    fn regular_sets(&self) -> usize {
        if self.mech.last_resort_policy {
            self.scenario.key_package_sets as usize
        } else {
            1
        }
    }

    /// `client` wants a turn with its user's token-indexed sets; turns run one at a time.
    /// A client already waiting keeps one turn, doing both tasks.
    pub(super) fn set_turn(&mut self, client: usize, task: SetTask) -> Result<(), SimError> {
        let user = self.clients[client].user;
        let turns = &mut self.users[user].set_turns;
        match turns.waiting.iter_mut().find(|(c, _)| *c == client) {
            Some((_, t)) => {
                *t = match (*t, task) {
                    (SetTask::Publish(a), SetTask::Publish(b)) => SetTask::Publish(a + b),
                    (SetTask::Complete, other) | (other, SetTask::Complete) => other,
                    (a, _) => a,
                }
            }
            None => turns.waiting.push_back((client, task)),
        }
        self.next_set_turn(user)
    }

    /// Starts the next waiting turn, if none is in flight: step 1 of MIMIMI "KeyPackages",
    /// asking the provider which sets the user's clients have uploaded.
    fn next_set_turn(&mut self, user: usize) -> Result<(), SimError> {
        let turns = &mut self.users[user].set_turns;
        if turns.current.is_some() {
            return Ok(());
        }
        let Some((client, task)) = turns.waiting.pop_front() else {
            if !self.users[user].registered {
                // Every client has had its first turn.
                self.registered(user);
            }
            return Ok(());
        };
        turns.current = Some((client, task));
        let msg = Wire::KeyPackageSetList(wire::KeyPackageSetList {
            token: self.users[user].token.clone().into(),
        });
        let home = self.users[user].provider;
        self.send_anonymous(client, home, &msg);
        Ok(())
    }

    /// The provider's list arrived: the client completes the sets that lack its KeyPackage
    /// (it recognises its own KeyPackages), starts new sets up to the number the user keeps
    /// (or as many as published, or a new last-resort set), and hands the turn on. When it
    /// started sets, the user's other clients take a turn to complete them.
    pub(super) fn set_list_answered(
        &mut self,
        client: usize,
        m: wire::KeyPackageSetListResponse,
    ) -> Result<(), SimError> {
        let user = self.clients[client].user;
        let task = match self.users[user].set_turns.current.take() {
            Some((c, task)) if c == client => task,
            _ => {
                return Err(SimError::Protocol(
                    "a KeyPackage set list nobody asked for".into(),
                ))
            }
        };
        if self.clients[client].removed {
            // The device went away while its turn was in flight.
            return self.next_set_turn(user);
        }
        let mine = &self.clients[client].key_package_sets;
        let mut uploads: Vec<(String, bool)> = vec![];
        for s in &m.sets {
            let own = s
                .key_package_refs
                .iter()
                .any(|r| mine.contains_key(r.as_slice()));
            if !own {
                let label = String::from_utf8(s.set.as_slice().to_vec())
                    .map_err(|_| SimError::Protocol("a set label that is not UTF-8".into()))?;
                uploads.push((label, s.last_resort == 1));
            }
        }
        let regular = m.sets.iter().filter(|s| s.last_resort == 0).count();
        let new_regular = match task {
            SetTask::Publish(n) => n as usize,
            _ => self.regular_sets().saturating_sub(regular),
        };
        let new_last_resort =
            task == SetTask::NewLastResort || !m.sets.iter().any(|s| s.last_resort == 1);
        let started = new_regular + usize::from(new_last_resort);
        for _ in 0..new_regular {
            uploads.push((self.set_label(client), false));
        }
        if new_last_resort {
            uploads.push((self.set_label(client), true));
        }
        for (label, last_resort) in uploads {
            let kp = self.key_package(client, &label, last_resort)?;
            let msg = Wire::KeyPackageSetUpload(wire::KeyPackageSetUpload {
                token: self.users[user].token.clone().into(),
                set: label.into_bytes().into(),
                last_resort: u8::from(last_resort),
                key_packages: vec![kp.into()],
            });
            let home = self.users[user].provider;
            self.send_anonymous(client, home, &msg);
        }
        if started > 0 {
            for c in self.users[user].clients.clone() {
                if c != client {
                    self.set_turn(c, SetTask::Complete)?;
                }
            }
        }
        self.next_set_turn(user)
    }

    fn schedule_last_resort_reupload(&mut self, user: usize) {
        let every = self.scenario.last_resort_reupload_us;
        if self.mech.anonymous_key_packages && self.mech.last_resort_policy && every > 0 {
            let at = self.engine.now().saturating_add(every);
            if at <= self.last_action_us() {
                self.schedule_at(at, Event::ReuploadLastResort(user));
            }
        }
    }

    /// The last-resort set is replaced by a fresh one (new user pseudonym), so that its reuse
    /// links rooms only within one period: the user's first client starts it, the others
    /// complete it.
    pub(super) fn reupload_last_resort(&mut self, user: usize) -> Result<(), SimError> {
        let first = self.users[user].clients[0];
        self.set_turn(first, SetTask::NewLastResort)?;
        self.schedule_last_resort_reupload(user);
        Ok(())
    }

    /// `publish_key_packages`: `count` new regular sets, completed by every client.
    pub(super) fn publish_key_packages(&mut self, user: usize, count: u32) -> Result<(), SimError> {
        if self.mech.anonymous_key_packages {
            let first = self.users[user].clients[0];
            return self.set_turn(first, SetTask::Publish(count));
        }
        for _ in 0..count {
            self.new_set(user, false);
        }
        for c in self.users[user].clients.clone() {
            self.upload_missing(c)?;
        }
        Ok(())
    }

    /// A client whose KeyPackage was used takes a turn with its user's token-indexed sets:
    /// it completes the sets that lack its KeyPackage and starts new ones (MIMIMI
    /// "KeyPackages"). Without token-indexed sets, clients do not replenish.
    pub(super) fn replenish(&mut self, client: usize) -> Result<(), SimError> {
        if !self.mech.anonymous_key_packages {
            return Ok(());
        }
        self.set_turn(client, SetTask::Complete)
    }

    /// A fresh label for a set `client` starts: a user pseudonym, or a random label without
    /// pseudonyms.
    fn set_label(&mut self, client: usize) -> String {
        let user = self.clients[client].user;
        let id = hex::encode(&draw32(&mut self.clients[client].rng)[..16]);
        let label = self.label_of(user, &id);
        self.record_set(user, &label);
        label
    }

    fn label_of(&self, user: usize, id: &str) -> String {
        let domain = &self.providers[self.users[user].provider].domain;
        if self.mech.pseudonymous_credentials {
            format!("{id}@{domain}")
        } else {
            id.to_string()
        }
    }

    /// Starts a session-uploaded KeyPackage set of `user` that every client still has to
    /// complete (without token-indexed sets, the clients agree on the labels at registration).
    fn new_set(&mut self, user: usize, last_resort: bool) {
        let id = hex::encode(&draw32(&mut self.users[user].rng)[..16]);
        let label = self.label_of(user, &id);
        let u = &mut self.users[user];
        u.sets.push(KeyPackageSet {
            label: label.clone(),
            last_resort,
            missing: u.clients.iter().copied().collect(),
        });
        self.record_set(user, &label);
    }

    /// Records who owns a set label: a user pseudonym, or a set id.
    fn record_set(&mut self, user: usize, label: &str) {
        let label = label.to_string();
        let kind = if self.mech.pseudonymous_credentials {
            Kind::UserPseudonym
        } else {
            Kind::KeyPackageSet
        };
        let value = if kind == Kind::UserPseudonym {
            label
        } else {
            digest(label.as_bytes())
        };
        self.add_truth(kind, value, user, None);
    }

    /// Uploads this client's KeyPackages for the session-uploaded sets that lack them, in one
    /// upload over the account's session.
    fn upload_missing(&mut self, client: usize) -> Result<(), SimError> {
        let user = self.clients[client].user;
        let todo: Vec<usize> = self.users[user]
            .sets
            .iter()
            .enumerate()
            .filter(|(_, s)| s.missing.contains(&client))
            .map(|(i, _)| i)
            .collect();
        let mut batch = vec![];
        for i in todo {
            self.users[user].sets[i].missing.remove(&client);
            let (label, last_resort) = {
                let s = &self.users[user].sets[i];
                (s.label.clone(), s.last_resort)
            };
            batch.push(VLBytes::from(self.key_package(
                client,
                &label,
                last_resort,
            )?));
        }
        if !batch.is_empty() {
            let msg = Wire::KeyPackageUpload(wire::KeyPackageUpload {
                key_packages: batch,
            });
            self.client_to_home(client, &msg);
        }
        Ok(())
    }

    /// A new leaf identity of `client` for a KeyPackage set (or room) with `user_pseudonym`:
    /// a pseudonymous credential with an identity link (or the real credential), a fresh
    /// signature key (or the long-term one), and the sealed queue ID extension.
    pub(super) fn leaf_identity(
        &mut self,
        client: usize,
        user_pseudonym: &str,
    ) -> Result<LeafIdentity, SimError> {
        let user = self.clients[client].user;
        let signer_pk = if self.mech.fresh_signature_keys {
            let c = &mut self.clients[client];
            let keys = signature_keys_from_seed(draw32(&mut c.rng));
            let pk = keys.public().to_vec();
            c.signers.insert(pk.clone(), keys);
            self.add_truth(Kind::SignatureKey, digest(&pk), user, Some(client));
            pk
        } else {
            self.clients[client].signer.public().to_vec()
        };
        let credential = if self.mech.pseudonymous_credentials {
            let domain = self.providers[self.users[user].provider].domain.clone();
            let c = &mut self.clients[client];
            let client_pseudonym = format!("{}@{domain}", hex::encode(&draw32(&mut c.rng)[..16]));
            let tbs = PseudonymousCredentialTbs {
                client_pseudonym: client_pseudonym.clone(),
                user_pseudonym: user_pseudonym.to_string(),
                signature_public_key: signer_pk.clone().into(),
            };
            let (pc, _) = PseudonymousCredential::new(
                c.mls.crypto(),
                tbs,
                &c.signer,
                &c.cwk.credential,
                c.signer.public(),
                &self.users[user].connection_key,
            )?;
            self.add_truth(
                Kind::ClientPseudonym,
                client_pseudonym.clone(),
                user,
                Some(client),
            );
            if !self.mech.encrypted_queue_ids {
                // Fanout will address this pseudonym: the provider must know it is this queue.
                let msg =
                    Wire::PseudonymRegistration(wire::PseudonymRegistration { client_pseudonym });
                self.client_to_home(client, &msg);
            }
            pc.to_mls_credential()
        } else {
            self.clients[client].cwk.credential.clone()
        };
        let extensions = if self.mech.encrypted_queue_ids {
            let c = &mut self.clients[client];
            let provider = &self.providers[self.users[user].provider];
            let sealed =
                protocol::seal_queue_id(draw32(&mut c.rng), &provider.keys.public, &c.queue_id)?;
            self.add_truth(
                Kind::EncryptedQueueId,
                digest(sealed.as_slice()),
                user,
                Some(client),
            );
            Extensions::single(protocol::queue_id_extension(sealed))
                .map_err(mls_err("build leaf extensions"))?
        } else {
            Extensions::empty()
        };
        Ok(LeafIdentity {
            cwk: CredentialWithKey {
                credential,
                signature_key: signer_pk.clone().into(),
            },
            signer: signer_pk,
            extensions,
        })
    }

    /// A KeyPackage of `client` for the set `label`, as `MlsMessageOut` bytes.
    fn key_package(
        &mut self,
        client: usize,
        label: &str,
        last_resort: bool,
    ) -> Result<Vec<u8>, SimError> {
        let leaf = self.leaf_identity(client, label)?;
        let c = &self.clients[client];
        let mut builder = KeyPackage::builder()
            .key_package_lifetime(mls::fixed_lifetime())
            .leaf_node_capabilities(mls::capabilities())
            .leaf_node_extensions(leaf.extensions);
        if last_resort {
            builder = builder.mark_as_last_resort();
        }
        let bundle = builder
            .build(mls::CIPHERSUITE, &c.mls, &c.signers[&leaf.signer], leaf.cwk)
            .map_err(mls_err("build a KeyPackage"))?;
        self.stats.mls_operations += 1;
        let kp = bundle.key_package();
        let r = kp
            .hash_ref(c.mls.crypto())
            .map_err(mls_err("hash a KeyPackage"))?;
        let bytes = mls::to_bytes(&MlsMessageOut::from(kp.clone()));
        let user = c.user;
        self.clients[client]
            .key_package_sets
            .insert(r.as_slice().to_vec(), (label.to_string(), last_resort));
        self.add_truth(
            Kind::KeyPackageRef,
            digest(r.as_slice()),
            user,
            Some(client),
        );
        Ok(bytes)
    }

    /// The name a leaf gives its user: the user pseudonym of a pseudonymous credential, or the
    /// user URI a client URI names.
    pub(super) fn leaf_user_name(credential: &Credential) -> Result<String, SimError> {
        match PseudonymousCredential::from_mls_credential(credential) {
            Ok(pc) => Ok(pc.user_pseudonym),
            Err(_) => {
                let uri = mls::credential_uri(credential)?;
                wire::user_of_client_uri(&uri)
                    .ok_or_else(|| SimError::Protocol(format!("not a client URI: {uri}")))
            }
        }
    }

    /// Authenticates another member's leaf (MIMIMI "Identity links"): decrypt its identity
    /// link with the key the room holds for it, verify the signature over the pseudonymous
    /// credential with the real key, and check that key with the authentication service.
    /// A failure is counted, not fatal: the report shows it.
    pub(super) fn authenticate_leaf(
        &mut self,
        client: usize,
        room: usize,
        credential: &Credential,
        signature_key: &[u8],
    ) {
        let c = &self.clients[client];
        // Without pseudonyms a leaf names its client; in a room with the user-to-user
        // pseudonymity policy members exchange no identity links on purpose.
        if !self.mech.pseudonymous_credentials
            || c.groups.get(&room).is_some_and(|m| m.wrapper.is_none())
        {
            return;
        }
        let ok = (|| {
            let key = c.groups.get(&room)?.link_keys.get(signature_key)?;
            let pc = PseudonymousCredential::from_mls_credential(credential).ok()?;
            let id = pc.authenticate(c.mls.crypto(), key, signature_key).ok()?;
            (self.directory.get(&id.client_uri) == Some(&id.client_signature_key)).then_some(())
        })()
        .is_some();
        if ok {
            self.stats.authentications += 1;
        } else {
            self.stats.authentication_failures += 1;
        }
    }

    /// Unwraps encrypted identity link keys into a member's view of the room.
    pub(super) fn learn_link_keys<'a>(
        &mut self,
        client: usize,
        room: usize,
        keys: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) {
        let c = &mut self.clients[client];
        let Some(m) = c.groups.get_mut(&room) else {
            return;
        };
        let Some(wrapper) = m.wrapper else {
            return;
        };
        for (signature_key, encrypted) in keys {
            if let Ok(k) = protocol::unwrap_identity_link_key(c.mls.crypto(), &wrapper, encrypted) {
                m.link_keys.insert(signature_key.to_vec(), k);
            }
        }
    }

    /// This client's identity link key for its own leaf in `room`, wrapped for the room.
    pub(super) fn own_wrapped_link_key(
        &mut self,
        client: usize,
        credential: &Credential,
        wrapper: &protocol::IdentityLinkWrapperKey,
    ) -> Result<VLBytes, SimError> {
        let user = self.clients[client].user;
        self.wrapped_link_key(client, user, credential, wrapper)
    }

    /// The identity link key of a leaf of `owner` (derived from `owner`'s connection key,
    /// which the client holds for itself and its contacts), wrapped under `wrapper`.
    pub(super) fn wrapped_link_key(
        &mut self,
        client: usize,
        owner: usize,
        credential: &Credential,
        wrapper: &protocol::IdentityLinkWrapperKey,
    ) -> Result<VLBytes, SimError> {
        let user = self.clients[client].user;
        let connection_key = if owner == user {
            self.users[user].connection_key
        } else {
            *self.users[user].contacts.get(&owner).ok_or_else(|| {
                SimError::Refused(format!(
                    "{} is not connected to {}: under MIMIMI users must be connected before \
                     they can add each other",
                    self.users[owner].name, self.users[user].name
                ))
            })?
        };
        let pc = PseudonymousCredential::from_mls_credential(credential)?;
        let c = &mut self.clients[client];
        let key = protocol::identity_link_key(c.mls.crypto(), &connection_key, &pc.tbs())?;
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&draw32(&mut c.rng)[..12]);
        Ok(protocol::wrap_identity_link_key(
            c.mls.crypto(),
            wrapper,
            &key,
            nonce,
        )?)
    }
}
