//! Clients: KeyPackage uploads, room operations (create, add, external join, remove, leave),
//! application messages, and what a client does with what arrives in its queue.

use openmls::prelude::{
    GroupId, KeyPackage, LeafNodeIndex, MlsGroup, MlsMessageBodyIn, MlsMessageOut,
    ProcessedMessageContent, Proposal, StagedWelcome, MIXED_PLAINTEXT_WIRE_FORMAT_POLICY,
};
use openmls_traits::OpenMlsProvider;
use tls_codec::VLBytes;

use super::mls::{self, mls_err};
use super::wire::{self, fanout_kind, Wire};
use super::{Op, SimError, Stage, TruthRow, World};
use crate::crypto::CIPHERSUITE;
use crate::observe::{digest, Kind};
use crate::scenario::ActionKind;

impl World<'_> {
    /// A client makes `n` KeyPackages (and a last-resort one, at registration) and uploads
    /// them over its authenticated session.
    pub(super) fn upload_key_packages(
        &mut self,
        client: usize,
        n: u32,
        with_last_resort: bool,
    ) -> Result<(), SimError> {
        let c = &self.clients[client];
        let mut key_packages = vec![];
        for i in 0..n + u32::from(with_last_resort) {
            let mut builder = KeyPackage::builder()
                .key_package_lifetime(mls::fixed_lifetime())
                .leaf_node_capabilities(mls::capabilities());
            if i == n {
                builder = builder.mark_as_last_resort();
            }
            let bundle = builder
                .build(CIPHERSUITE, &c.mls, &c.signer, c.cwk.clone())
                .map_err(mls_err("build a KeyPackage"))?;
            let kp = bundle.key_package();
            let r = kp
                .hash_ref(c.mls.crypto())
                .map_err(mls_err("hash a KeyPackage"))?;
            let user = &self.users[c.user];
            self.truth.insert(TruthRow {
                kind: Kind::KeyPackageRef,
                value: digest(r.as_slice()),
                user: user.name.clone(),
                client: super::client_label(c),
            });
            key_packages.push(VLBytes::from(mls::to_bytes(&MlsMessageOut::from(
                kp.clone(),
            ))));
        }
        let msg = Wire::KeyPackageUpload(wire::KeyPackageUpload { key_packages });
        self.client_to_home(client, &msg);
        Ok(())
    }

    /// The creator's first client creates the MLS group and announces it to the hub.
    pub(super) fn create_room(
        &mut self,
        room: usize,
        action: usize,
        creator: usize,
        then_add: Vec<usize>,
    ) -> Result<(), SimError> {
        let actor = self.users[creator].clients[0];
        let uri = self.rooms[room].uri.clone();
        let c = &mut self.clients[actor];
        let group = MlsGroup::builder()
            .with_group_id(GroupId::from_slice(uri.as_bytes()))
            .ciphersuite(CIPHERSUITE)
            .with_wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .use_ratchet_tree_extension(true)
            .max_past_epochs(mls::MAX_PAST_EPOCHS)
            .lifetime(mls::fixed_lifetime())
            .with_capabilities(mls::capabilities())
            .build(&c.mls, &c.signer, c.cwk.clone())
            .map_err(mls_err("create a group"))?;
        let gi = group
            .export_group_info(c.mls.crypto(), &c.signer, false)
            .map_err(mls_err("export a GroupInfo"))?;
        let msg = Wire::CreateRoom(wire::CreateRoom {
            room: uri,
            creator: self.users[creator].uri.clone(),
            group_info: mls::to_bytes(&gi).into(),
            ratchet_tree: mls::to_bytes(&group.export_ratchet_tree()).into(),
        });
        c.joined_epoch.insert(room, group.epoch().as_u64());
        c.groups.insert(room, group);
        self.rooms[room].op = Some(Op {
            then_add,
            ..Op::new(action, actor, Stage::Creating)
        });
        self.client_to_home(actor, &msg);
        Ok(())
    }

    /// Claims KeyPackages of every target user through the hub; the commit follows when all
    /// answers are in.
    pub(super) fn start_claims(
        &mut self,
        room: usize,
        action: usize,
        actor: usize,
        targets: Vec<usize>,
    ) -> Result<(), SimError> {
        self.rooms[room].op = Some(Op {
            claims: targets.iter().map(|&t| (t, None)).collect(),
            ..Op::new(action, actor, Stage::Claiming)
        });
        if targets.is_empty() {
            return self.step_done(room);
        }
        let requester = self.users[self.clients[actor].user].uri.clone();
        for t in targets {
            let msg = Wire::KeyPackageClaim(wire::KeyPackageClaim {
                room: self.rooms[room].uri.clone(),
                requester: requester.clone(),
                target: self.users[t].uri.clone(),
            });
            self.client_to_home(actor, &msg);
        }
        Ok(())
    }

    /// The joiner's first client asks the hub for the room's GroupInfo.
    pub(super) fn start_external_join(
        &mut self,
        room: usize,
        action: usize,
        user: usize,
    ) -> Result<(), SimError> {
        let actor = self.users[user].clients[0];
        let then_add = if self.users[user].clients.len() > 1 {
            vec![user]
        } else {
            vec![]
        };
        self.rooms[room].op = Some(Op {
            then_add,
            ..Op::new(action, actor, Stage::Joining)
        });
        let msg = Wire::GroupInfoRequest(wire::GroupInfoRequest {
            room: self.rooms[room].uri.clone(),
            requester: self.users[user].uri.clone(),
        });
        self.client_to_home(actor, &msg);
        Ok(())
    }

    /// Leaf indices of `user`'s clients in `actor`'s view of `room`.
    fn leaves_of(
        &self,
        actor: usize,
        room: usize,
        user: usize,
    ) -> Result<Vec<LeafNodeIndex>, SimError> {
        let g = &self.clients[actor].groups[&room];
        let mut out = vec![];
        for m in g.members() {
            let uri = mls::credential_uri(&m.credential)?;
            if self.client_index.get(&uri).map(|&c| self.clients[c].user) == Some(user) {
                out.push(m.index);
            }
        }
        Ok(out)
    }

    /// Removes every client of `user` in one commit.
    pub(super) fn remove_user(
        &mut self,
        room: usize,
        action: usize,
        actor: usize,
        user: usize,
    ) -> Result<(), SimError> {
        let leaves = self.leaves_of(actor, room, user)?;
        self.rooms[room].op = Some(Op::new(action, actor, Stage::Committed));
        let c = &mut self.clients[actor];
        let g = c.groups.get_mut(&room).expect("actor is a member");
        let (commit, _, _) = g
            .remove_members(&c.mls, &c.signer, &leaves)
            .map_err(mls_err("remove members"))?;
        self.submit_commit(room, actor, commit, None)
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
        let g = c.groups.get_mut(&room).expect("actor is a member");
        g.merge_pending_commit(&c.mls)
            .map_err(mls_err("merge own commit"))?;
        let gi = g
            .export_group_info(c.mls.crypto(), &c.signer, false)
            .map_err(mls_err("export a GroupInfo"))?;
        if !g.is_active() {
            c.groups.remove(&room);
        }
        let msg = Wire::Handshake(wire::Handshake {
            room: self.rooms[room].uri.clone(),
            sender: self.users[c.user].uri.clone(),
            messages: vec![mls::to_bytes(&commit).into()],
            welcome: welcome.map(|w| mls::to_bytes(&w).into()),
            group_info: Some(mls::to_bytes(&gi).into()),
        });
        self.client_to_home(actor, &msg);
        Ok(())
    }

    /// A user leaves: its first client proposes the removal of all its leaves; the remaining
    /// member with the lowest leaf index commits them. The last user to leave closes the room.
    pub(super) fn leave(
        &mut self,
        room: usize,
        action: usize,
        user: usize,
    ) -> Result<(), SimError> {
        let actor = self.acting_client(room, user)?;
        let leaves = self.leaves_of(actor, room, user)?;
        let total = self.clients[actor].groups[&room].members().count();
        if leaves.len() == total {
            return self.close_room(room);
        }
        self.rooms[room].op = Some(Op::new(action, actor, Stage::Proposed));
        let c = &mut self.clients[actor];
        let g = c.groups.get_mut(&room).expect("actor is a member");
        let own = g.own_leaf_index();
        let mut messages = vec![];
        for leaf in leaves {
            let m = if leaf == own {
                g.leave_group(&c.mls, &c.signer)
                    .map_err(mls_err("propose to leave"))?
            } else {
                g.propose_remove_member(&c.mls, &c.signer, leaf)
                    .map_err(mls_err("propose a removal"))?
                    .0
            };
            messages.push(mls::to_bytes(&m).into());
        }
        let msg = Wire::Handshake(wire::Handshake {
            room: self.rooms[room].uri.clone(),
            sender: self.users[c.user].uri.clone(),
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
            c.groups.remove(&room);
        }
        self.providers[hub].hub.remove(&room);
        self.update_memberships(room, &before, &Default::default());
        self.drain_room_queue(room)
    }

    /// The `i`-th message of a `send` action (clients of the sender take turns).
    pub(super) fn send_tick(&mut self, action: usize, i: u32) -> Result<(), SimError> {
        let ActionKind::Send {
            room,
            from,
            count,
            every_us,
        } = &self.scenario.actions[action].kind
        else {
            return Err(SimError::Protocol("send tick of a non-send action".into()));
        };
        if i + 1 < *count {
            self.engine
                .schedule_in(*every_us, super::Event::SendTick { action, i: i + 1 });
        }
        let room = self.room_index[room];
        let user = &self.users[self.user_index[from]];
        let client = user.clients[i as usize % user.clients.len()];
        let c = &mut self.clients[client];
        let Some(g) = c.groups.get_mut(&room) else {
            self.stats.sends_skipped += 1;
            return Ok(());
        };
        let text = format!(
            "message {i} of line {}",
            self.scenario.actions[action].pos.line
        );
        let m = g
            .create_message(&c.mls, &c.signer, text.as_bytes())
            .map_err(mls_err("encrypt an application message"))?;
        let msg = Wire::AppMessage(wire::AppMessage {
            room: self.rooms[room].uri.clone(),
            sender: user.uri.clone(),
            message: mls::to_bytes(&m).into(),
        });
        self.stats.messages_sent += 1;
        self.client_to_home(client, &msg);
        Ok(())
    }

    /// Bytes arrive in a client's queue.
    pub(super) fn at_client(&mut self, client: usize, bytes: Vec<u8>) -> Result<(), SimError> {
        match Wire::from_bytes(&bytes)? {
            Wire::Fanout(f) => {
                let room = self.room_by_uri(&f.room)?;
                match f.kind {
                    fanout_kind::HANDSHAKE => self.client_handshakes(client, room, &f.messages),
                    fanout_kind::APPLICATION => self.client_application(client, room, &f.messages),
                    fanout_kind::WELCOME => self.client_welcome(client, room, &f.messages),
                    k => Err(SimError::Protocol(format!("unknown fanout kind {k}"))),
                }
            }
            Wire::KeyPackageClaimResponse(m) => self.claim_answered(client, m),
            Wire::RoomAck(m) => {
                let room = self.room_by_uri(&m.room)?;
                self.step_done(room)
            }
            Wire::GroupInfoResponse(m) => self.external_join(client, m),
            Wire::ConsentRequest(m) => {
                let answer = Wire::ConsentResponse(wire::Consent { accepted: 1, ..m });
                self.client_to_home(client, &answer);
                Ok(())
            }
            Wire::ConsentResponse(m) => {
                if m.accepted == 1 {
                    let (a, b) = (
                        self.user_by_uri(&m.requester)?,
                        self.user_by_uri(&m.target)?,
                    );
                    self.connections
                        .push((self.users[a].name.clone(), self.users[b].name.clone()));
                    self.stats.connections += 1;
                }
                Ok(())
            }
            other => Err(SimError::Protocol(format!(
                "a client received {}",
                other.flow()
            ))),
        }
    }

    fn claim_answered(
        &mut self,
        client: usize,
        m: wire::KeyPackageClaimResponse,
    ) -> Result<(), SimError> {
        let room = self.room_by_uri(&m.room)?;
        let target = self.user_by_uri(&m.target)?;
        let op = self.rooms[room]
            .op
            .as_mut()
            .filter(|op| op.actor == client && matches!(op.stage, Stage::Claiming))
            .ok_or_else(|| SimError::Protocol("an unexpected KeyPackage claim answer".into()))?;
        let slot = op
            .claims
            .iter_mut()
            .find(|(u, kps)| *u == target && kps.is_none())
            .ok_or_else(|| SimError::Protocol("an answer to no claim".into()))?;
        slot.1 = Some(
            m.key_packages
                .iter()
                .map(|k| k.as_slice().to_vec())
                .collect(),
        );
        if op.claims.iter().any(|(_, k)| k.is_none()) {
            return Ok(());
        }
        let answers: Vec<Vec<u8>> = op
            .claims
            .iter_mut()
            .flat_map(|(_, k)| k.take().unwrap_or_default())
            .collect();
        let c = &mut self.clients[client];
        let g = c.groups.get_mut(&room).expect("actor is a member");
        let present: Vec<String> = g
            .members()
            .map(|m| mls::credential_uri(&m.credential))
            .collect::<Result<_, _>>()?;
        let mut kps = vec![];
        for bytes in answers {
            let kp = mls::parse_key_package(c.mls.crypto(), &bytes)?;
            // A claim for one's own user also returns the acting client's KeyPackage.
            if !present.contains(&mls::credential_uri(kp.leaf_node().credential())?) {
                kps.push(kp);
            }
        }
        if kps.is_empty() {
            return self.step_done(room);
        }
        let (commit, welcome, _) = g
            .add_members(&c.mls, &c.signer, &kps)
            .map_err(mls_err("add members"))?;
        self.submit_commit(room, client, commit, Some(welcome))
    }

    fn external_join(&mut self, client: usize, m: wire::GroupInfoResponse) -> Result<(), SimError> {
        let room = self.room_by_uri(&m.room)?;
        let vgi = match mls::parse_message(m.group_info.as_slice())?.extract() {
            MlsMessageBodyIn::GroupInfo(g) => g,
            _ => {
                return Err(SimError::Protocol(
                    "a GroupInfo answer without a GroupInfo".into(),
                ))
            }
        };
        let tree = mls::parse_tree(m.ratchet_tree.as_slice())?;
        let c = &mut self.clients[client];
        let (group, bundle) = MlsGroup::external_commit_builder()
            .with_config(mls::join_config())
            .with_ratchet_tree(tree)
            .build_group(&c.mls, vgi, c.cwk.clone())
            .map_err(mls_err("start an external commit"))?
            .load_psks(c.mls.storage())
            .map_err(mls_err("load PSKs"))?
            .build(c.mls.rand(), c.mls.crypto(), &c.signer, |_| true)
            .map_err(mls_err("build an external commit"))?
            .finalize(&c.mls)
            .map_err(mls_err("finalize an external commit"))?;
        let gi = group
            .export_group_info(c.mls.crypto(), &c.signer, false)
            .map_err(mls_err("export a GroupInfo"))?;
        c.joined_epoch.insert(room, group.epoch().as_u64());
        c.groups.insert(room, group);
        let msg = Wire::Handshake(wire::Handshake {
            room: self.rooms[room].uri.clone(),
            sender: self.users[c.user].uri.clone(),
            messages: vec![mls::to_bytes(bundle.commit()).into()],
            welcome: None,
            group_info: Some(mls::to_bytes(&gi).into()),
        });
        self.client_to_home(client, &msg);
        Ok(())
    }

    /// A member processes commits and proposals; after proposals, the designated committer
    /// commits them.
    fn client_handshakes(
        &mut self,
        client: usize,
        room: usize,
        messages: &[VLBytes],
    ) -> Result<(), SimError> {
        let mut committed = false;
        let mut proposed = false;
        for m in messages {
            let pm = mls::parse_message(m.as_slice())?
                .try_into_protocol_message()
                .map_err(mls_err("read a handshake"))?;
            let c = &mut self.clients[client];
            let g = c.groups.get_mut(&room).ok_or_else(|| {
                SimError::Protocol(format!("{} got a handshake for a room it is not in", c.uri))
            })?;
            let processed = g
                .process_message(&c.mls, pm)
                .map_err(mls_err("member processes a handshake"))?;
            match processed.into_content() {
                ProcessedMessageContent::StagedCommitMessage(staged) => {
                    g.merge_staged_commit(&c.mls, *staged)
                        .map_err(mls_err("merge a commit"))?;
                    if !g.is_active() {
                        c.groups.remove(&room);
                        c.joined_epoch.remove(&room);
                    }
                    committed = true;
                }
                ProcessedMessageContent::ProposalMessage(q) => {
                    g.store_pending_proposal(c.mls.storage(), *q)
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
            let op = self.rooms[room]
                .op
                .as_mut()
                .ok_or_else(|| SimError::Protocol("a commit outside any operation".into()))?;
            op.outstanding = op.outstanding.saturating_sub(1);
            if op.outstanding == 0 {
                return self.step_done(room);
            }
        } else if proposed && self.is_designated_committer(client, room) {
            let c = &mut self.clients[client];
            let g = c.groups.get_mut(&room).expect("checked above");
            let (commit, welcome, _) = g
                .commit_to_pending_proposals(&c.mls, &c.signer)
                .map_err(mls_err("commit proposals"))?;
            return self.submit_commit(room, client, commit, welcome);
        }
        Ok(())
    }

    /// The member that commits pending removals: the lowest leaf index not being removed.
    fn is_designated_committer(&self, client: usize, room: usize) -> bool {
        let g = &self.clients[client].groups[&room];
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
        for m in messages {
            let pm = mls::parse_message(m.as_slice())?
                .try_into_protocol_message()
                .map_err(mls_err("read an application message"))?;
            let c = &mut self.clients[client];
            let Some(g) = c.groups.get_mut(&room) else {
                return Err(SimError::Protocol(format!(
                    "{} got a message for a room it is not in",
                    c.uri
                )));
            };
            if pm.epoch().as_u64() < c.joined_epoch.get(&room).copied().unwrap_or(0) {
                self.stats.messages_before_join += 1;
                continue;
            }
            let processed = g
                .process_message(&c.mls, pm)
                .map_err(mls_err("decrypt an application message"))?;
            match processed.into_content() {
                ProcessedMessageContent::ApplicationMessage(_) => {
                    self.stats.messages_delivered += 1
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

    fn client_welcome(
        &mut self,
        client: usize,
        room: usize,
        messages: &[VLBytes],
    ) -> Result<(), SimError> {
        for m in messages {
            let welcome = match mls::parse_message(m.as_slice())?.extract() {
                MlsMessageBodyIn::Welcome(w) => w,
                _ => {
                    return Err(SimError::Protocol(
                        "a Welcome fanout without a Welcome".into(),
                    ))
                }
            };
            let c = &mut self.clients[client];
            let group = StagedWelcome::new_from_welcome(&c.mls, &mls::join_config(), welcome, None)
                .map_err(mls_err("read a Welcome"))?
                .into_group(&c.mls)
                .map_err(mls_err("join from a Welcome"))?;
            c.joined_epoch.insert(room, group.epoch().as_u64());
            c.groups.insert(room, group);
        }
        let op = self.rooms[room]
            .op
            .as_mut()
            .ok_or_else(|| SimError::Protocol("a Welcome outside any operation".into()))?;
        op.outstanding = op.outstanding.saturating_sub(1);
        if op.outstanding == 0 {
            return self.step_done(room);
        }
        Ok(())
    }
}
