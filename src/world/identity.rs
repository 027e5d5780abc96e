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
use super::{draw32, Event, KeyPackageSet, SimError, World};
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
        let regular = if !self.mech.anonymous_key_packages {
            self.scenario.key_packages_per_client
        } else if self.mech.last_resort_policy {
            self.scenario.key_package_sets
        } else {
            1
        };
        for _ in 0..regular {
            self.new_set(user, false);
        }
        self.new_set(user, true);
        for c in clients {
            self.upload_missing(c, false)?;
        }
        self.schedule_last_resort_reupload(user);
        Ok(())
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
    /// links rooms only within one period.
    pub(super) fn reupload_last_resort(&mut self, user: usize) -> Result<(), SimError> {
        self.users[user].sets.retain(|s| !s.last_resort);
        self.new_set(user, true);
        for c in self.users[user].clients.clone() {
            self.upload_missing(c, false)?;
        }
        self.schedule_last_resort_reupload(user);
        Ok(())
    }

    /// `publish_key_packages`: `count` new regular sets, completed by every client.
    pub(super) fn publish_key_packages(&mut self, user: usize, count: u32) -> Result<(), SimError> {
        for _ in 0..count {
            self.new_set(user, false);
        }
        for c in self.users[user].clients.clone() {
            self.upload_missing(c, false)?;
        }
        Ok(())
    }

    /// A client whose KeyPackage was used uploads a new one: it completes the oldest set that
    /// lacks its KeyPackage, or starts a new set (MIMIMI "KeyPackages": complete missing sets
    /// first, then start new ones). Without token-indexed sets, clients do not replenish.
    pub(super) fn replenish(&mut self, client: usize) -> Result<(), SimError> {
        if !self.mech.anonymous_key_packages {
            return Ok(());
        }
        let user = self.clients[client].user;
        if !self.users[user]
            .sets
            .iter()
            .any(|s| !s.last_resort && s.missing.contains(&client))
        {
            self.new_set(user, false);
        }
        self.upload_missing(client, true)
    }

    /// Starts a KeyPackage set of `user` that every client still has to complete.
    fn new_set(&mut self, user: usize, last_resort: bool) {
        let u = &mut self.users[user];
        let id = hex::encode(&draw32(&mut u.rng)[..16]);
        let domain = &self.providers[u.provider].domain;
        let label = if self.mech.pseudonymous_credentials {
            format!("{id}@{domain}")
        } else {
            id
        };
        u.sets.push(KeyPackageSet {
            label: label.clone(),
            last_resort,
            missing: u.clients.iter().copied().collect(),
        });
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

    /// Uploads this client's KeyPackages for the sets that lack them (only the oldest such
    /// regular set with `first_only`): one anonymous upload per set under the user's token, or
    /// one upload of all over the account's session without token-indexed sets.
    fn upload_missing(&mut self, client: usize, first_only: bool) -> Result<(), SimError> {
        let user = self.clients[client].user;
        let todo: Vec<usize> = self.users[user]
            .sets
            .iter()
            .enumerate()
            .filter(|(_, s)| s.missing.contains(&client) && !(first_only && s.last_resort))
            .map(|(i, _)| i)
            .take(if first_only { 1 } else { usize::MAX })
            .collect();
        let mut batch = vec![];
        for i in todo {
            self.users[user].sets[i].missing.remove(&client);
            let (label, last_resort) = {
                let s = &self.users[user].sets[i];
                (s.label.clone(), s.last_resort)
            };
            let kp = self.key_package(client, &label, last_resort)?;
            if self.mech.anonymous_key_packages {
                let msg = Wire::KeyPackageSetUpload(wire::KeyPackageSetUpload {
                    token: self.users[user].token.clone().into(),
                    set: label.into_bytes().into(),
                    last_resort: u8::from(last_resort),
                    key_packages: vec![kp.into()],
                });
                let home = self.users[user].provider;
                self.send_anonymous(client, home, &msg);
            } else {
                batch.push(VLBytes::from(kp));
            }
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
