//! Clients: the steps of room operations (claim, create, commit adds, external join, remove,
//! leave), application messages, and what a client does with what arrives in its queue.

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::{
    Credential, GroupId, KeyPackage, LeafNodeIndex, LeafNodeParameters, MlsGroup, MlsMessageBodyIn,
    MlsMessageOut, ProcessedMessageContent, Proposal, ProtocolMessage,
    RequiredCapabilitiesExtension, MIXED_PLAINTEXT_WIRE_FORMAT_POLICY,
};
use openmls_traits::OpenMlsProvider;
use tls_codec::VLBytes;

use super::identity::LeafIdentity;
use super::mls::{self, mls_err};
use super::wire::{self, fanout_kind, Wire};
use super::{draw32, Membership, SimError, Step, World};
use crate::crypto::HpkeKeys;
use crate::protocol::{
    self, AddAad, ExternalJoinAad, IdentityLinkExtension, IdentityLinkWrapperKey,
};
use crate::scenario::ActionKind;

/// MIMI -06 section 5.6: the `EncryptWithLabel` label of a GroupInfo answer.
pub(super) const GROUP_INFO_LABEL: &str = "GroupInfo and ratchet_tree encryption";

/// Prefix of application messages that carry a [`ContactMessage`] between connected users.
const CONTACT_PREFIX: &[u8] = b"MIMIMI contact\0";

/// Messages users exchange in their connection room.
#[derive(
    Clone, Debug, PartialEq, tls_codec::TlsSerialize, tls_codec::TlsDeserialize, tls_codec::TlsSize,
)]
#[repr(u8)]
pub(super) enum ContactMessage {
    /// "Please give me the identity link wrapper key of this room."
    #[tls_codec(discriminant = 1)]
    WrapperKeyRequest(String),
    /// The answer: room URI and wrapper key.
    #[tls_codec(discriminant = 2)]
    WrapperKeyResponse(WrapperKeyAnswer),
}

/// A wrapper key handed to a connected user who wants to join a room.
#[derive(
    Clone, Debug, PartialEq, tls_codec::TlsSerialize, tls_codec::TlsDeserialize, tls_codec::TlsSize,
)]
pub(super) struct WrapperKeyAnswer {
    room: String,
    wrapper_key: VLBytes,
}

impl World<'_> {
    /// Claims KeyPackages of every target user: through the hub with names in clear (MIMI),
    /// or by connection token over the anonymous channel (MIMIMI).
    pub(super) fn start_claims(
        &mut self,
        room: usize,
        actor: usize,
        targets: Vec<usize>,
    ) -> Result<(), SimError> {
        if targets.is_empty() {
            return self.step_done(room);
        }
        let me = self.clients[actor].user;
        if let Some(op) = self.rooms[room].op.as_mut() {
            op.claims = targets.iter().map(|&t| (t, None)).collect();
        }
        for t in targets {
            if self.mech.anonymous_key_packages {
                if t != me && !self.users[me].contacts.contains_key(&t) {
                    return Err(SimError::Refused(format!(
                        "{} cannot fetch KeyPackages of {}: they are not connected (yet); under \
                         MIMIMI users must be connected before they can add each other",
                        self.users[me].name, self.users[t].name
                    )));
                }
                let msg = Wire::KeyPackageFetch(wire::KeyPackageFetch {
                    token: self.users[t].token.clone().into(),
                });
                let target = self.users[t].provider;
                self.send_anonymous(actor, target, &msg);
            } else {
                let msg = Wire::KeyPackageClaim(self.key_material_request(actor, room, t)?);
                self.client_to_home(actor, &msg);
            }
        }
        Ok(())
    }

    /// MIMI -06 `KeyMaterialRequest` of `actor` for `target`'s KeyPackages in `room`, signed
    /// with the client's real key and carrying its real credential.
    fn key_material_request(
        &self,
        actor: usize,
        room: usize,
        target: usize,
    ) -> Result<wire::KeyPackageClaim, SimError> {
        let c = &self.clients[actor];
        let tbs = wire::KeyMaterialRequestTbs {
            protocol: wire::PROTOCOL_MLS10,
            requester: self.users[c.user].uri.clone(),
            target: self.users[target].uri.clone(),
            room: self.rooms[room].uri.clone(),
            ciphersuites: vec![u16::from(mls::CIPHERSUITE)],
            required_capabilities: mls::to_bytes(&RequiredCapabilitiesExtension::new(
                &[],
                &[],
                &[],
            ))
            .into(),
            requester_signature_key: c.signer.public().to_vec().into(),
            requester_credential: mls::to_bytes(&c.cwk.credential).into(),
        };
        let signature =
            protocol::sign_with_label(&c.signer, "KeyMaterialRequestTBS", &mls::to_bytes(&tbs))?;
        Ok(wire::KeyPackageClaim {
            tbs,
            signature: signature.into(),
        })
    }

    /// A claim or fetch was answered: once all are in, the step is done.
    fn claim_answered(
        &mut self,
        client: usize,
        target: usize,
        key_packages: &[VLBytes],
    ) -> Result<(), SimError> {
        let room = self
            .rooms
            .iter()
            .position(|r| {
                r.op.as_ref().is_some_and(|op| {
                    op.actor == client
                        && matches!(op.steps.front(), Some(Step::Claim(_)))
                        && op.claims.iter().any(|(u, k)| *u == target && k.is_none())
                })
            })
            .ok_or_else(|| SimError::Protocol("an answer to no KeyPackage claim".into()))?;
        let op = self.rooms[room].op.as_mut().expect("found above");
        let slot = op
            .claims
            .iter_mut()
            .find(|(u, k)| *u == target && k.is_none())
            .expect("found above");
        slot.1 = Some(key_packages.iter().map(|k| k.as_slice().to_vec()).collect());
        if op.claims.iter().any(|(_, k)| k.is_none()) {
            return Ok(());
        }
        let answers: Vec<(usize, Vec<Vec<u8>>)> = op
            .claims
            .drain(..)
            .map(|(u, k)| (u, k.unwrap_or_default()))
            .collect();
        for (u, kps) in answers {
            op.key_packages.extend(kps.into_iter().map(|k| (u, k)));
        }
        self.step_done(room)
    }

    /// Takes the actor's own KeyPackage out of the claimed ones, if there is one: its leaf
    /// (credential, signature key, extensions) becomes the actor's leaf in the room, so all the
    /// user's leaves share the set's user pseudonym.
    fn take_own_key_package(
        &mut self,
        room: usize,
        actor: usize,
    ) -> Result<Option<LeafIdentity>, SimError> {
        let op = self.rooms[room]
            .op
            .as_mut()
            .expect("an operation is running");
        let c = &self.clients[actor];
        for i in 0..op.key_packages.len() {
            let kp = mls::parse_key_package(c.mls.crypto(), &op.key_packages[i].1)?;
            let leaf = kp.leaf_node();
            let pk = leaf.signature_key().as_slice().to_vec();
            if c.signers.contains_key(&pk) {
                op.key_packages.remove(i);
                let set = self.set_of(actor, &kp)?;
                self.entries
                    .entry((room, actor))
                    .or_default()
                    .push(Some(set));
                return Ok(Some(LeafIdentity {
                    cwk: openmls::prelude::CredentialWithKey {
                        credential: leaf.credential().clone(),
                        signature_key: leaf.signature_key().clone(),
                    },
                    signer: pk,
                    extensions: leaf.extensions().clone(),
                }));
            }
        }
        Ok(None)
    }

    /// The actor's leaf for a room it creates or joins: from its own KeyPackage, or new.
    fn actor_leaf(&mut self, room: usize, actor: usize) -> Result<LeafIdentity, SimError> {
        let device = self.rooms[room]
            .op
            .as_mut()
            .and_then(|op| op.pseudonym.take());
        if let Some(name) = device {
            // A device added during the run joins under its user's name in the room.
            self.entries.entry((room, actor)).or_default().push(None);
            return self.leaf_identity(actor, &name);
        }
        match self.take_own_key_package(room, actor)? {
            Some(leaf) => {
                self.replenish(actor)?;
                Ok(leaf)
            }
            None => {
                self.entries.entry((room, actor)).or_default().push(None);
                let pseudonym = self.fresh_user_pseudonym(actor);
                self.leaf_identity(actor, &pseudonym)
            }
        }
    }

    /// The set a KeyPackage of `client`'s was made for: its label and whether it is the
    /// last-resort set (the client remembers the KeyPackages it made).
    fn set_of(&self, client: usize, kp: &KeyPackage) -> Result<(String, bool), SimError> {
        let c = &self.clients[client];
        let r = kp
            .hash_ref(c.mls.crypto())
            .map_err(mls_err("hash a KeyPackage"))?;
        c.key_package_sets
            .get(r.as_slice())
            .cloned()
            .ok_or_else(|| SimError::Protocol(format!("{} did not make this KeyPackage", c.uri)))
    }

    /// A user pseudonym for a leaf outside any KeyPackage set.
    fn fresh_user_pseudonym(&mut self, client: usize) -> String {
        let user = self.clients[client].user;
        let domain = self.providers[self.users[user].provider].domain.clone();
        let p = format!(
            "{}@{domain}",
            hex::encode(&draw32(&mut self.clients[client].rng)[..16])
        );
        if self.mech.pseudonymous_credentials {
            self.add_truth(crate::observe::Kind::UserPseudonym, p.clone(), user, None);
        }
        p
    }

    /// The actor creates the MLS group and announces it to the hub.
    pub(super) fn create_group(&mut self, room: usize, actor: usize) -> Result<(), SimError> {
        let leaf = self.actor_leaf(room, actor)?;
        let uri = self.rooms[room].uri.clone();
        let wrapper = (self.mech.pseudonymous_credentials && self.rooms[room].identity_links)
            .then(|| IdentityLinkWrapperKey(draw32(&mut self.clients[actor].rng)));
        let c = &self.clients[actor];
        let group = MlsGroup::builder()
            .with_group_id(GroupId::from_slice(uri.as_bytes()))
            .ciphersuite(mls::CIPHERSUITE)
            .with_wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .use_ratchet_tree_extension(true)
            .max_past_epochs(mls::MAX_PAST_EPOCHS)
            .lifetime(mls::fixed_lifetime())
            .with_capabilities(mls::capabilities())
            .with_leaf_node_extensions(leaf.extensions.clone())
            .map_err(mls_err("set leaf extensions"))?
            .build(&c.mls, &c.signers[&leaf.signer], leaf.cwk.clone())
            .map_err(mls_err("create a group"))?;
        self.stats.mls_operations += 1;
        let gi = group
            .export_group_info(c.mls.crypto(), &c.signers[&leaf.signer], false)
            .map_err(mls_err("export a GroupInfo"))?;
        let tree = mls::to_bytes(&group.export_ratchet_tree());
        let mut link_keys = vec![];
        if let Some(w) = &wrapper {
            let enc = self.own_wrapped_link_key(actor, &leaf.cwk.credential, w)?;
            link_keys.push(wire::LinkKey {
                signature_key: leaf.signer.clone().into(),
                encrypted_key: enc,
            });
        }
        let creator = Self::leaf_user_name(&leaf.cwk.credential)?;
        let c = &mut self.clients[actor];
        let mut m = Membership {
            joined_epoch: group.epoch().as_u64(),
            group,
            signer: leaf.signer,
            wrapper,
            link_keys: Default::default(),
        };
        if let Some(w) = &wrapper {
            for lk in &link_keys {
                if let Ok(k) = protocol::unwrap_identity_link_key(
                    c.mls.crypto(),
                    w,
                    lk.encrypted_key.as_slice(),
                ) {
                    m.link_keys.insert(lk.signature_key.as_slice().to_vec(), k);
                }
            }
        }
        c.groups.insert(room, m);
        let msg = Wire::CreateRoom(wire::CreateRoom {
            room: uri,
            creator,
            group_info: mls::to_bytes(&gi).into(),
            ratchet_tree: tree.into(),
            link_keys,
        });
        self.client_to_home(actor, &msg);
        Ok(())
    }

    /// The actor commits Adds of the claimed KeyPackages (all clients of each claimed user,
    /// except KeyPackages of clients already in the room). With pseudonymous credentials the
    /// commit carries `AddAAD` (the added leaves' identity link keys under the room's wrapper
    /// key, in the order of the Adds) and the Welcome's GroupInfo the `IdentityLinkExtension`.
    pub(super) fn commit_adds(&mut self, room: usize, actor: usize) -> Result<(), SimError> {
        let claimed = std::mem::take(
            &mut self.rooms[room]
                .op
                .as_mut()
                .expect("an operation is running")
                .key_packages,
        );
        let present: Vec<Vec<u8>> = self.clients[actor].groups[&room]
            .group
            .members()
            .map(|m| m.signature_key)
            .collect();
        let mut adds: Vec<(usize, KeyPackage)> = vec![];
        for (owner, bytes) in claimed {
            let kp = mls::parse_key_package(self.clients[actor].mls.crypto(), &bytes)?;
            let pk = kp.leaf_node().signature_key().as_slice().to_vec();
            let own_client = self.clients[actor].signers.contains_key(&pk);
            if !present.contains(&pk) && !own_client {
                adds.push((owner, kp));
            }
        }
        if adds.is_empty() {
            return self.step_done(room);
        }
        let wrapper = self.clients[actor].groups[&room].wrapper;
        let mut encrypted = vec![];
        if let Some(w) = &wrapper {
            for (owner, kp) in &adds {
                encrypted.push(self.wrapped_link_key(
                    actor,
                    *owner,
                    kp.leaf_node().credential(),
                    w,
                )?);
            }
        }
        let c = &mut self.clients[actor];
        let m = c.groups.get_mut(&room).expect("actor is a member");
        let signer = &c.signers[&m.signer];
        let kps: Vec<KeyPackage> = adds.iter().map(|(_, kp)| kp.clone()).collect();
        let (commit, welcome) = match &wrapper {
            Some(w) => {
                let aad = AddAad {
                    encrypted_identity_link_keys: encrypted.clone(),
                };
                m.group.set_aad(
                    aad.tls_serialize_detached()
                        .map_err(mls_err("encode AddAAD"))?,
                );
                let bundle = m
                    .group
                    .commit_builder()
                    .propose_adds(kps)
                    .load_psks(c.mls.storage())
                    .map_err(mls_err("load PSKs"))?
                    .create_group_info_with_extensions([
                        IdentityLinkExtension::new(w).to_extension()
                    ])
                    .map_err(mls_err("add the identity link extension"))?
                    .build(c.mls.rand(), c.mls.crypto(), signer, |_| true)
                    .map_err(mls_err("build an add commit"))?
                    .stage_commit(&c.mls)
                    .map_err(mls_err("stage an add commit"))?;
                self.stats.mls_operations += 1;
                let (commit, welcome, _) = bundle.into_messages();
                (commit, welcome)
            }
            None => {
                let (commit, welcome, _) = m
                    .group
                    .add_members(&c.mls, signer, &kps)
                    .map_err(mls_err("add members"))?;
                self.stats.mls_operations += 1;
                (commit, Some(welcome))
            }
        };
        if wrapper.is_some() {
            let keys: Vec<(Vec<u8>, Vec<u8>)> = adds
                .iter()
                .zip(&encrypted)
                .map(|((_, kp), e)| {
                    (
                        kp.leaf_node().signature_key().as_slice().to_vec(),
                        e.as_slice().to_vec(),
                    )
                })
                .collect();
            self.learn_link_keys(
                actor,
                room,
                keys.iter().map(|(a, b)| (a.as_slice(), b.as_slice())),
            );
            for (_, kp) in &adds {
                let leaf = kp.leaf_node();
                self.authenticate_leaf(
                    actor,
                    room,
                    leaf.credential(),
                    leaf.signature_key().as_slice(),
                );
            }
        }
        self.submit_commit(room, actor, commit, welcome)
    }

    /// Merges the actor's own commit, exports the new GroupInfo and submits all to the hub.
    fn submit_commit(
        &mut self,
        room: usize,
        actor: usize,
        commit: MlsMessageOut,
        welcome: Option<MlsMessageOut>,
    ) -> Result<(), SimError> {
        let c = &mut self.clients[actor];
        let m = c.groups.get_mut(&room).expect("actor is a member");
        m.group
            .merge_pending_commit(&c.mls)
            .map_err(mls_err("merge own commit"))?;
        let gi = m
            .group
            .export_group_info(c.mls.crypto(), &c.signers[&m.signer], false)
            .map_err(mls_err("export a GroupInfo"))?;
        if !self.clients[actor].groups[&room].group.is_active() {
            self.clients[actor].drop_group(room)?;
        }
        self.release_held(actor, room)?;
        let msg = Wire::Handshake(wire::Handshake {
            room: self.rooms[room].uri.clone(),
            messages: vec![mls::to_bytes(&commit).into()],
            welcome: welcome.map(|w| mls::to_bytes(&w).into()),
            group_info: Some(mls::to_bytes(&gi).into()),
        });
        self.client_to_home(actor, &msg);
        Ok(())
    }

    /// How a client names its user in a room: its leaf's user pseudonym or user URI.
    pub(super) fn own_name_in(&self, client: usize, room: usize) -> Result<String, SimError> {
        let g = &self.clients[client].groups[&room].group;
        let leaf = g
            .own_leaf()
            .ok_or_else(|| SimError::Protocol("a member without a leaf".into()))?;
        Self::leaf_user_name(leaf.credential())
    }

    /// Leaf indices of `user`'s clients in `actor`'s view of `room`. The actor knows whose
    /// leaves they are: from the client URIs of real credentials, or from the identity links
    /// it has verified.
    fn leaves_of(&self, actor: usize, room: usize, user: usize) -> Vec<LeafNodeIndex> {
        let g = &self.clients[actor].groups[&room].group;
        g.members()
            .filter(|m| {
                self.users[user]
                    .clients
                    .iter()
                    .any(|&c| self.clients[c].signers.contains_key(&m.signature_key))
            })
            .map(|m| m.index)
            .collect()
    }

    /// Removes every client of `user` in one commit.
    pub(super) fn remove_user(
        &mut self,
        room: usize,
        actor: usize,
        user: usize,
    ) -> Result<(), SimError> {
        let leaves = self.leaves_of(actor, room, user);
        let c = &mut self.clients[actor];
        let m = c.groups.get_mut(&room).expect("actor is a member");
        let (commit, _, _) = m
            .group
            .remove_members(&c.mls, &c.signers[&m.signer], &leaves)
            .map_err(mls_err("remove members"))?;
        self.stats.mls_operations += 1;
        self.submit_commit(room, actor, commit, None)
    }

    /// A user leaves: its first client proposes the removal of all its leaves; the remaining
    /// member with the lowest leaf index commits them. The last user to leave closes the room.
    pub(super) fn leave(&mut self, room: usize, actor: usize, user: usize) -> Result<(), SimError> {
        let leaves = self.leaves_of(actor, room, user);
        self.propose_removals(room, actor, leaves)
    }

    /// The actor proposes the removal of `leaves` (its own leaf among them, or not); the
    /// remaining member with the lowest leaf index commits them. When no member would remain,
    /// the room closes.
    pub(super) fn propose_removals(
        &mut self,
        room: usize,
        actor: usize,
        leaves: Vec<LeafNodeIndex>,
    ) -> Result<(), SimError> {
        let total = self.clients[actor].groups[&room].group.members().count();
        if leaves.len() == total {
            return self.close_room(room);
        }
        let c = &mut self.clients[actor];
        let m = c.groups.get_mut(&room).expect("actor is a member");
        let signer = &c.signers[&m.signer];
        let own = m.group.own_leaf_index();
        let mut messages = vec![];
        for leaf in leaves {
            let msg = if leaf == own {
                m.group
                    .leave_group(&c.mls, signer)
                    .map_err(mls_err("propose to leave"))?
            } else {
                m.group
                    .propose_remove_member(&c.mls, signer, leaf)
                    .map_err(mls_err("propose a removal"))?
                    .0
            };
            messages.push(mls::to_bytes(&msg).into());
            self.stats.mls_operations += 1;
        }
        let msg = Wire::Handshake(wire::Handshake {
            room: self.rooms[room].uri.clone(),
            messages,
            welcome: None,
            group_info: None,
        });
        self.client_to_home(actor, &msg);
        Ok(())
    }

    /// The last members leave: there is nobody left to commit, so every client drops the
    /// group and the hub stops following the room.
    fn close_room(&mut self, room: usize) -> Result<(), SimError> {
        let hub = self.rooms[room].hub;
        let before = self.hub_member_clients(hub, room)?;
        for c in &mut self.clients {
            if c.groups.contains_key(&room) {
                c.drop_group(room)?;
            }
        }
        let clients: Vec<usize> = self
            .held
            .keys()
            .filter(|(_, r)| *r == room)
            .map(|(c, _)| *c)
            .collect();
        for c in clients {
            self.release_held(c, room)?;
        }
        let p = &mut self.providers[hub];
        if let Some(h) = p.hub.remove(&room) {
            openmls::prelude::PublicGroup::delete(p.mls.storage(), h.group.group_id())
                .map_err(mls_err("forget a room's state"))?;
        }
        self.update_memberships(room, &before, &Default::default());
        self.step_done(room)
    }

    /// The joiner asks a connected member for the room's wrapper key, in their connection
    /// room (MIMIMI: "the joiner needs an existing member's help"). Without connection rooms
    /// the key is handed over out of band, unobserved.
    pub(super) fn request_wrapper_key(
        &mut self,
        room: usize,
        actor: usize,
    ) -> Result<(), SimError> {
        let me = self.clients[actor].user;
        let members: Vec<usize> = self
            .clients
            .iter()
            .filter(|c| c.groups.contains_key(&room))
            .map(|c| c.user)
            .collect();
        let helper = members
            .iter()
            .copied()
            .find(|&u| self.is_connected(me, u))
            .ok_or_else(|| {
                SimError::Refused(format!(
                    "{} cannot join {}: no member is connected to it to hand over the room's \
                     identity link wrapper key",
                    self.users[me].name, self.rooms[room].name
                ))
            })?;
        if !self.mech.encrypted_connection_requests {
            let wrapper = self
                .clients
                .iter()
                .filter(|c| c.user == helper)
                .find_map(|c| c.groups.get(&room).and_then(|m| m.wrapper));
            self.rooms[room].op.as_mut().expect("running").wrapper = wrapper;
            return self.step_done(room);
        }
        let conn = self.connection_room_of(me, helper).ok_or_else(|| {
            SimError::Protocol("connected users without a connection room".into())
        })?;
        let request = ContactMessage::WrapperKeyRequest(self.rooms[room].uri.clone());
        self.send_contact(actor, conn, &request)
    }

    /// The connection room two users share, if any.
    pub(super) fn connection_room_of(&self, a: usize, b: usize) -> Option<usize> {
        (0..self.rooms.len()).find(|&r| {
            self.rooms[r].purpose == super::Purpose::Connection
                && [a, b].iter().all(|&u| {
                    self.users[u]
                        .clients
                        .iter()
                        .any(|&c| self.clients[c].groups.contains_key(&r))
                })
        })
    }

    /// Sends a contact message as an application message in a connection room.
    fn send_contact(
        &mut self,
        client: usize,
        room: usize,
        msg: &ContactMessage,
    ) -> Result<(), SimError> {
        let mut payload = CONTACT_PREFIX.to_vec();
        payload.extend(
            msg.tls_serialize_detached()
                .map_err(mls_err("encode a contact message"))?,
        );
        self.send_application(client, room, payload, false)
    }

    /// Encrypts and submits an application message; `counted` marks a scenario `send`. While
    /// the client's group holds proposals nobody has committed yet, MLS forbids application
    /// messages (openmls: `PendingProposal`): the client holds the message back until the
    /// commit arrives.
    fn send_application(
        &mut self,
        client: usize,
        room: usize,
        payload: Vec<u8>,
        counted: bool,
    ) -> Result<(), SimError> {
        let c = &self.clients[client];
        let m = c.groups.get(&room).expect("checked by the caller");
        if m.group.pending_proposals().next().is_some() {
            self.held
                .entry((client, room))
                .or_default()
                .push((payload, counted));
            return Ok(());
        }
        if counted {
            self.stats.messages_sent += 1;
        }
        let sender = self.own_name_in(client, room)?;
        let c = &mut self.clients[client];
        let m = c.groups.get_mut(&room).expect("checked by the caller");
        let out = m
            .group
            .create_message(&c.mls, &c.signers[&m.signer], &payload)
            .map_err(mls_err("encrypt an application message"))?;
        self.stats.mls_operations += 1;
        let bytes = mls::to_bytes(&out);
        let user = c.user;
        self.messages.push(super::MessageRow {
            message: crate::observe::digest(&bytes),
            room: self.rooms[room].name.clone(),
            user: self.users[user].name.clone(),
            client: super::client_label(&self.clients[client]),
            time_us: self.engine.now(),
        });
        let msg = Wire::AppMessage(wire::AppMessage {
            room: self.rooms[room].uri.clone(),
            sender,
            message: bytes.into(),
        });
        self.client_to_home(client, &msg);
        Ok(())
    }

    /// Sends the messages a client held back while proposals were pending, now that a commit
    /// has been merged; a client that is no longer in the room drops them.
    fn release_held(&mut self, client: usize, room: usize) -> Result<(), SimError> {
        let Some(held) = self.held.remove(&(client, room)) else {
            return Ok(());
        };
        for (payload, counted) in held {
            if !self.clients[client].groups.contains_key(&room) {
                self.stats.sends_skipped += u64::from(counted);
            } else {
                self.send_application(client, room, payload, counted)?;
            }
        }
        Ok(())
    }

    /// The joiner asks the hub for the room's GroupInfo: anonymously with the anonymous
    /// channel, else on its session, naming itself unless it uses pseudonyms.
    pub(super) fn request_group_info(&mut self, room: usize, actor: usize) -> Result<(), SimError> {
        // The leaf the client will join with: its credential goes into the request.
        let leaf = self.actor_leaf(room, actor)?;
        let keys =
            HpkeKeys::derive(&draw32(&mut self.clients[actor].rng)).expect("X25519 derivation");
        let c = &self.clients[actor];
        let tbs = wire::GroupInfoRequestTbs {
            protocol: wire::PROTOCOL_MLS10,
            room: self.rooms[room].uri.clone(),
            ciphersuite: u16::from(mls::CIPHERSUITE),
            signature_key: leaf.signer.clone().into(),
            credential: mls::to_bytes(&leaf.cwk.credential).into(),
            group_info_key: keys.public.clone().into(),
            joining_code: VLBytes::new(vec![]),
        };
        let signature = protocol::sign_with_label(
            &c.signers[&leaf.signer],
            "GroupInfoRequestTBS",
            &mls::to_bytes(&tbs),
        )?;
        let msg = Wire::GroupInfoRequest(wire::GroupInfoRequest {
            tbs,
            signature: signature.into(),
        });
        self.rooms[room]
            .op
            .as_mut()
            .expect("an operation is running")
            .joining = Some((leaf, keys));
        if self.mech.anonymous_channel {
            let hub = self.rooms[room].hub;
            self.send_anonymous(actor, hub, &msg);
        } else {
            self.client_to_home(actor, &msg);
        }
        Ok(())
    }

    /// The joiner builds its external commit from the hub's GroupInfo and tree, with its
    /// identity link key (and the answer to a connection request) in the commit's AAD.
    fn external_join(&mut self, client: usize, m: wire::GroupInfoResponse) -> Result<(), SimError> {
        let room = self.room_by_uri(&m.tbs.room)?;
        protocol::verify_with_label(
            self.clients[client].mls.crypto(),
            m.tbs.hub_signature_key.as_slice(),
            "GroupInfoResponseTBS",
            &mls::to_bytes(&m.tbs),
            m.signature.as_slice(),
        )?;
        let (leaf, keys) = self.rooms[room]
            .op
            .as_mut()
            .and_then(|op| op.joining.take())
            .ok_or_else(|| SimError::Protocol("a GroupInfo nobody asked for".into()))?;
        let m: wire::GroupInfoRatchetTreeTbe =
            tls_codec::Deserialize::tls_deserialize_exact(protocol::decrypt_with_label(
                &keys.private,
                GROUP_INFO_LABEL,
                m.tbs.room.as_bytes(),
                m.tbs.encrypted.as_slice(),
            )?)?;
        let vgi = match mls::parse_message(m.group_info.as_slice())?.extract() {
            MlsMessageBodyIn::GroupInfo(g) => g,
            _ => {
                return Err(SimError::Protocol(
                    "a GroupInfo answer without a GroupInfo".into(),
                ))
            }
        };
        let tree = mls::parse_tree(m.ratchet_tree.as_slice())?;
        let op = self.rooms[room]
            .op
            .as_ref()
            .expect("an operation is running");
        let wrapper = match &op.answering {
            _ if !self.mech.pseudonymous_credentials => None,
            Some((_, request)) => Some(request.wrapper_key()?),
            None => op.wrapper,
        };
        let answering = op.answering.clone();
        let mut aad = vec![];
        if self.mech.pseudonymous_credentials || answering.is_some() {
            let encrypted = match wrapper {
                Some(w) => self.own_wrapped_link_key(client, &leaf.cwk.credential, &w)?,
                None if self.mech.pseudonymous_credentials && self.rooms[room].identity_links => {
                    return Err(SimError::Protocol(
                        "an external join without the wrapper key".into(),
                    ))
                }
                None => VLBytes::new(vec![]),
            };
            let connection_response = match &answering {
                Some((_, request)) => {
                    let me = self.clients[client].user;
                    let response =
                        protocol::ConnectionResponse::new(&self.users[me].connection_key);
                    let seed = draw32(&mut self.clients[client].rng);
                    Some(protocol::seal_connection_response(
                        seed,
                        request.connection_response_key.as_slice(),
                        &response,
                    )?)
                }
                None => None,
            };
            aad = ExternalJoinAad {
                encrypted_identity_link_key: encrypted,
                connection_response,
            }
            .tls_serialize_detached()
            .map_err(mls_err("encode the external commit AAD"))?;
        }
        let c = &mut self.clients[client];
        let params = LeafNodeParameters::builder()
            .with_capabilities(mls::capabilities())
            .with_extensions(leaf.extensions.clone())
            .build();
        let (group, bundle) = MlsGroup::external_commit_builder()
            .with_config(mls::join_config())
            .with_ratchet_tree(tree)
            .with_aad(aad)
            .build_group(&c.mls, vgi, leaf.cwk.clone())
            .map_err(mls_err("start an external commit"))?
            .leaf_node_parameters(params)
            .load_psks(c.mls.storage())
            .map_err(mls_err("load PSKs"))?
            .build(
                c.mls.rand(),
                c.mls.crypto(),
                &c.signers[&leaf.signer],
                |_| true,
            )
            .map_err(mls_err("build an external commit"))?
            .finalize(&c.mls)
            .map_err(mls_err("finalize an external commit"))?;
        self.stats.mls_operations += 1;
        let gi = group
            .export_group_info(c.mls.crypto(), &c.signers[&leaf.signer], false)
            .map_err(mls_err("export a GroupInfo"))?;
        let others = self.enter_room(
            client,
            room,
            group,
            leaf.signer.clone(),
            wrapper,
            &m.link_keys,
        );
        if let Some((requester, _)) = &answering {
            // A connection: the requester's clients must be the requester's.
            for (credential, key) in &others {
                if !self.leaf_belongs_to(client, room, credential, key, *requester) {
                    self.stats.authentication_failures += 1;
                }
            }
        }
        let msg = Wire::Handshake(wire::Handshake {
            room: self.rooms[room].uri.clone(),
            messages: vec![mls::to_bytes(bundle.commit()).into()],
            welcome: None,
            group_info: Some(mls::to_bytes(&gi).into()),
        });
        self.client_to_home(client, &msg);
        Ok(())
    }

    /// The `i`-th message of a `send` action (the real clients of the sender take turns;
    /// placeholders never send).
    pub(super) fn send_tick(&mut self, action: usize, i: u32) -> Result<(), SimError> {
        let ActionKind::Send {
            room,
            from,
            count,
            every_us,
            bytes,
        } = &self.scenario.actions[action].kind
        else {
            return Err(SimError::Protocol("send tick of a non-send action".into()));
        };
        if i + 1 < *count {
            self.schedule_in(*every_us, super::Event::SendTick { action, i: i + 1 });
        }
        let room = self.room_index[room];
        let user = &self.users[self.user_index[from]];
        let client = user.clients[i as usize % user.real_clients];
        if !self.clients[client].groups.contains_key(&room) {
            self.stats.sends_skipped += 1;
            return Ok(());
        }
        let mut text = format!(
            "message {i} of line {}",
            self.scenario.actions[action].pos.line
        )
        .into_bytes();
        if let Some(len) = bytes {
            text.resize(*len as usize, b'.');
        }
        self.send_application(client, room, text, true)
    }

    /// Bytes arrive in a client's queue.
    pub(super) fn at_client(&mut self, client: usize, bytes: Vec<u8>) -> Result<(), SimError> {
        let msg = Wire::from_bytes(&bytes)?;
        self.client_receives(client, msg)
    }

    fn client_receives(&mut self, client: usize, msg: Wire) -> Result<(), SimError> {
        match msg {
            Wire::Fanout(f) => {
                let room = self.room_by_uri(&f.room)?;
                match f.kind {
                    fanout_kind::HANDSHAKE => self.client_handshakes(client, room, &f.messages),
                    fanout_kind::APPLICATION => self.client_application(client, room, &f.messages),
                    fanout_kind::WELCOME => self.client_welcome(client, room, &f),
                    k => Err(SimError::Protocol(format!("unknown fanout kind {k}"))),
                }
            }
            Wire::RelayResponse(r) => {
                let inner = self.open_relay_response(client, &r)?;
                self.client_receives(client, inner)
            }
            Wire::KeyPackageClaimResponse(m) => {
                let target = self.user_by_uri(&m.target)?;
                let key_packages: Vec<VLBytes> = m
                    .clients
                    .into_iter()
                    .filter_map(|c| c.key_package)
                    .collect();
                self.claim_answered(client, target, &key_packages)
            }
            Wire::KeyPackageSetListResponse(m) => self.set_list_answered(client, m),
            Wire::KeyPackageFetchResponse(m) => {
                if m.last_resort == 1 {
                    self.stats.last_resort_claims += 1;
                }
                let target = (0..self.users.len())
                    .find(|&u| self.users[u].token == m.token.as_slice())
                    .ok_or_else(|| SimError::Protocol("an answer for an unknown token".into()))?;
                self.claim_answered(client, target, &m.key_packages)
            }
            Wire::RoomAck(m) => {
                let room = self.room_by_uri(&m.room)?;
                self.step_done(room)
            }
            Wire::GroupInfoResponse(m) => self.external_join(client, m),
            Wire::ConsentRequest(m) => self.consent_requested(client, m),
            Wire::ConsentResponse(m) => self.consent_answered(m),
            Wire::EstablishmentKeyResponse(m) => self.establishment_key_received(client, m),
            Wire::ConnectionRequestDelivery(m) => self.connection_request_received(client, m),
            other => Err(SimError::Protocol(format!(
                "a client received {}",
                other.flow()
            ))),
        }
    }

    /// A member processes commits and proposals; after proposals, the designated committer
    /// commits them. With pseudonymous credentials it reads the identity link keys in the
    /// commit's AAD and authenticates the new leaves.
    fn client_handshakes(
        &mut self,
        client: usize,
        room: usize,
        messages: &[VLBytes],
    ) -> Result<(), SimError> {
        let mut committed = false;
        let mut proposed = false;
        for bytes in messages {
            let pm: ProtocolMessage = mls::parse_message(bytes.as_slice())?
                .try_into_protocol_message()
                .map_err(mls_err("read a handshake"))?;
            let c = &mut self.clients[client];
            let m = c.groups.get_mut(&room).ok_or_else(|| {
                SimError::Protocol(format!("{} got a handshake for a room it is not in", c.uri))
            })?;
            let processed = m
                .group
                .process_message(&c.mls, pm)
                .map_err(mls_err("member processes a handshake"))?;
            self.stats.mls_operations += 1;
            let aad = processed.aad().to_vec();
            match processed.into_content() {
                ProcessedMessageContent::StagedCommitMessage(staged) => {
                    let added: Vec<(Credential, Vec<u8>)> = staged
                        .add_proposals()
                        .map(|a| {
                            let leaf = a.add_proposal().key_package().leaf_node();
                            (
                                leaf.credential().clone(),
                                leaf.signature_key().as_slice().to_vec(),
                            )
                        })
                        .collect();
                    let joiner = staged.update_path_leaf_node().map(|leaf| {
                        (
                            leaf.credential().clone(),
                            leaf.signature_key().as_slice().to_vec(),
                        )
                    });
                    let external = staged
                        .queued_proposals()
                        .any(|p| matches!(p.proposal(), Proposal::ExternalInit(_)));
                    m.group
                        .merge_staged_commit(&c.mls, *staged)
                        .map_err(mls_err("merge a commit"))?;
                    if !m.group.is_active() {
                        c.drop_group(room)?;
                    } else if !aad.is_empty() {
                        self.read_commit_aad(client, room, &aad, external, &added, joiner)?;
                    }
                    committed = true;
                }
                ProcessedMessageContent::ProposalMessage(q) => {
                    m.group
                        .store_pending_proposal(c.mls.storage(), *q)
                        .map_err(mls_err("store a proposal"))?;
                    proposed = true;
                }
                _ => {
                    return Err(SimError::Protocol(
                        "a handshake fanout held another message".into(),
                    ))
                }
            }
        }
        if committed {
            self.release_held(client, room)?;
            return self.delivery_processed(room);
        }
        if proposed && self.is_designated_committer(client, room) {
            let c = &mut self.clients[client];
            let m = c.groups.get_mut(&room).expect("checked above");
            let (commit, welcome, _) = m
                .group
                .commit_to_pending_proposals(&c.mls, &c.signers[&m.signer])
                .map_err(mls_err("commit proposals"))?;
            self.stats.mls_operations += 1;
            return self.submit_commit(room, client, commit, welcome);
        }
        Ok(())
    }

    /// Identity link keys from a commit's AAD: `AddAAD` for member commits (same order as the
    /// Adds), `ExternalJoinAAD` for external commits (which may answer a connection request).
    fn read_commit_aad(
        &mut self,
        client: usize,
        room: usize,
        aad: &[u8],
        external: bool,
        added: &[(Credential, Vec<u8>)],
        joiner: Option<(Credential, Vec<u8>)>,
    ) -> Result<(), SimError> {
        if external {
            let a = ExternalJoinAad::tls_deserialize_exact(aad)?;
            let Some((credential, key)) = joiner else {
                return Ok(());
            };
            self.learn_link_keys(
                client,
                room,
                [(key.as_slice(), a.encrypted_identity_link_key.as_slice())],
            );
            self.authenticate_leaf(client, room, &credential, &key);
            if let Some(sealed) = &a.connection_response {
                self.connection_answered(client, sealed.as_slice())?;
            }
        } else {
            let a = AddAad::tls_deserialize_exact(aad)?;
            let pairs: Vec<(&[u8], &[u8])> = added
                .iter()
                .zip(&a.encrypted_identity_link_keys)
                .map(|((_, k), e)| (k.as_slice(), e.as_slice()))
                .collect();
            self.learn_link_keys(client, room, pairs);
            for (credential, key) in added {
                self.authenticate_leaf(client, room, credential, key);
            }
        }
        Ok(())
    }

    /// One recipient processed the current commit or Welcome.
    fn delivery_processed(&mut self, room: usize) -> Result<(), SimError> {
        let op = self.rooms[room]
            .op
            .as_mut()
            .ok_or_else(|| SimError::Protocol("a commit outside any operation".into()))?;
        op.outstanding = op.outstanding.saturating_sub(1);
        if op.outstanding == 0 {
            return self.step_done(room);
        }
        Ok(())
    }

    /// The member that commits pending removals: the lowest leaf index not being removed.
    fn is_designated_committer(&self, client: usize, room: usize) -> bool {
        let g = &self.clients[client].groups[&room].group;
        let removed: Vec<LeafNodeIndex> = g
            .pending_proposals()
            .filter_map(|p| match p.proposal() {
                Proposal::Remove(r) => Some(r.removed()),
                _ => None,
            })
            .collect();
        g.members().map(|m| m.index).find(|i| !removed.contains(i)) == Some(g.own_leaf_index())
    }

    fn client_application(
        &mut self,
        client: usize,
        room: usize,
        messages: &[VLBytes],
    ) -> Result<(), SimError> {
        for bytes in messages {
            let pm = mls::parse_message(bytes.as_slice())?
                .try_into_protocol_message()
                .map_err(mls_err("read an application message"))?;
            let c = &mut self.clients[client];
            let Some(m) = c.groups.get_mut(&room) else {
                // Sent while the client was a member, arriving after it left: dropped.
                self.stats.messages_after_leaving += 1;
                continue;
            };
            if pm.epoch().as_u64() < m.joined_epoch {
                self.stats.messages_before_join += 1;
                continue;
            }
            if self.decrypt == super::Decrypt::Needed
                && self.rooms[room].purpose == super::Purpose::Room
            {
                // A scenario room's message only counts as delivered: nothing acts on it.
                if let Some(n) = &mut self.stats.messages_not_decrypted {
                    *n += 1;
                }
                continue;
            }
            let processed = m
                .group
                .process_message(&c.mls, pm)
                .map_err(mls_err("decrypt an application message"))?;
            self.stats.mls_operations += 1;
            match processed.into_content() {
                ProcessedMessageContent::ApplicationMessage(a) => {
                    let payload = a.into_bytes();
                    match payload.strip_prefix(CONTACT_PREFIX) {
                        Some(contact) => {
                            let msg = ContactMessage::tls_deserialize_exact(contact)?;
                            self.contact_received(client, room, msg)?;
                        }
                        None => self.stats.messages_delivered += 1,
                    }
                }
                // The hub cannot read the sender of a PrivateMessage and fans it out to every
                // member; the sending client recognizes its own message and drops it.
                ProcessedMessageContent::OwnPrivateMessage => {}
                other => {
                    return Err(SimError::Protocol(format!(
                        "an application fanout held {other:?}"
                    )))
                }
            }
        }
        Ok(())
    }

    /// A message from a contact in a connection room.
    fn contact_received(
        &mut self,
        client: usize,
        conn: usize,
        msg: ContactMessage,
    ) -> Result<(), SimError> {
        match msg {
            ContactMessage::WrapperKeyRequest(room_uri) => {
                let room = self.room_by_uri(&room_uri)?;
                let Some(wrapper) = self.clients[client]
                    .groups
                    .get(&room)
                    .and_then(|m| m.wrapper)
                else {
                    return Ok(()); // not in that room: another client of the user answers
                };
                // One answer per user: its first client in both rooms.
                let user = self.clients[client].user;
                let first = self.users[user].clients.iter().copied().find(|&c| {
                    self.clients[c].groups.contains_key(&room)
                        && self.clients[c].groups.contains_key(&conn)
                });
                if first != Some(client) {
                    return Ok(());
                }
                let answer = ContactMessage::WrapperKeyResponse(WrapperKeyAnswer {
                    room: room_uri,
                    wrapper_key: wrapper.0.to_vec().into(),
                });
                self.send_contact(client, conn, &answer)
            }
            ContactMessage::WrapperKeyResponse(a) => {
                let room = self.room_by_uri(&a.room)?;
                let waiting = self.rooms[room].op.as_ref().is_some_and(|op| {
                    op.actor == client && op.steps.front() == Some(&Step::WrapperKey)
                });
                if !waiting {
                    return Ok(());
                }
                let key = IdentityLinkWrapperKey::from_slice(a.wrapper_key.as_slice())?;
                self.rooms[room].op.as_mut().expect("checked").wrapper = Some(key);
                self.step_done(room)
            }
        }
    }

    /// A client enters a room it has just joined: it keeps the group, learns the members'
    /// identity link keys and authenticates every other member. Returns the other leaves.
    fn enter_room(
        &mut self,
        client: usize,
        room: usize,
        group: MlsGroup,
        signer: Vec<u8>,
        wrapper: Option<IdentityLinkWrapperKey>,
        link_keys: &[wire::LinkKey],
    ) -> Vec<(Credential, Vec<u8>)> {
        let others: Vec<(Credential, Vec<u8>)> = group
            .members()
            .filter(|m| m.signature_key != signer)
            .map(|m| (m.credential, m.signature_key))
            .collect();
        self.clients[client].groups.insert(
            room,
            Membership {
                joined_epoch: group.epoch().as_u64(),
                group,
                signer,
                wrapper,
                link_keys: Default::default(),
            },
        );
        self.learn_link_keys(
            client,
            room,
            link_keys
                .iter()
                .map(|k| (k.signature_key.as_slice(), k.encrypted_key.as_slice())),
        );
        for (credential, key) in &others {
            self.authenticate_leaf(client, room, credential, key);
        }
        others
    }

    fn client_welcome(
        &mut self,
        client: usize,
        room: usize,
        f: &wire::Fanout,
    ) -> Result<(), SimError> {
        for bytes in &f.messages {
            let welcome = match mls::parse_message(bytes.as_slice())?.extract() {
                MlsMessageBodyIn::Welcome(w) => w,
                _ => {
                    return Err(SimError::Protocol(
                        "a Welcome fanout without a Welcome".into(),
                    ))
                }
            };
            let c = &mut self.clients[client];
            let processed = openmls::prelude::ProcessedWelcome::new_from_welcome(
                &c.mls,
                &mls::join_config(),
                welcome,
            )
            .map_err(mls_err("read a Welcome"))?;
            let wrapper = IdentityLinkExtension::from_extensions(
                processed.unverified_group_info().extensions(),
            )
            .map(|e| e.wrapper_key())
            .transpose()?;
            let own = processed
                .own_key_package()
                .ok_or_else(|| SimError::Protocol("a Welcome for no KeyPackage".into()))?;
            let set = self.set_of(client, own)?;
            self.entries
                .entry((room, client))
                .or_default()
                .push(Some(set));
            let c = &mut self.clients[client];
            let group = processed
                .into_staged_welcome(&c.mls, None)
                .map_err(mls_err("stage a Welcome"))?
                .into_group(&c.mls)
                .map_err(mls_err("join from a Welcome"))?;
            self.stats.mls_operations += 1;
            let own = group
                .own_leaf()
                .map(|l| l.signature_key().as_slice().to_vec())
                .ok_or_else(|| SimError::Protocol("a Welcome without an own leaf".into()))?;
            self.enter_room(client, room, group, own, wrapper, &f.link_keys);
            self.replenish(client)?;
            self.leave_if_removed(room, client)?;
        }
        self.delivery_processed(room)
    }
}
