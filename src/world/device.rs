//! Devices added and removed during a run (`add_device`, `remove_device`).
//!
//! A new device registers like its user's other clients did (its queue, its KeyPackages in the
//! user's sets), then joins every room its user is in by external commit, as MIMI -06 section
//! 3.6 describes ("Cathy adds a new device"): it fetches the GroupInfo from the hub and commits
//! itself in, under the name its user has in the room (its user pseudonym under MIMIMI) and
//! with the room's identity link wrapper key, both of which it takes from one of its user's
//! other devices (devices of one user share their state out of band, unobserved). A device
//! that goes away proposes its own removal in each of its rooms, and a remaining member
//! commits it, as a leaving user's client does; it deletes its KeyPackages at its provider (a
//! [`wire::KeyPackageDelete`] on its session, or under its user's connection token over the
//! anonymous channel: neither draft has such a message, so the simulator defines one). A
//! device removed while an add of its user was under way may still be added with a KeyPackage
//! claimed before the deletion: it then leaves that room too.

use super::wire::{self, Wire};
use super::{Op, Queued, SimError, Step, World};

impl World<'_> {
    /// `add_device`: a new client of `user`, numbered after its devices so far.
    pub(super) fn add_device(&mut self, action: usize, user: usize) -> Result<(), SimError> {
        let u = &mut self.users[user];
        u.devices_ever += 1;
        let n = u.devices_ever;
        let (name, provider) = (u.name.clone(), u.provider);
        let domain = self.providers[provider].domain.clone();
        let client = self.make_client(user, &name, &domain, n);
        let u = &mut self.users[user];
        // Real clients come before placeholders.
        u.clients.insert(u.real_clients, client);
        u.real_clients += 1;
        u.devices.insert(n, client);
        self.added_devices.push((client, action));
        self.register_device(client)?;
        for room in 0..self.rooms.len() {
            self.queue_device_joins(room)?;
        }
        Ok(())
    }

    /// Queues an external join into `room` for every device added during the run whose user
    /// has a client in the room and which is neither in it nor already queued to join it.
    /// Called when a device is added and whenever an operation on the room ends, so that a
    /// device also enters the rooms its user enters later without it (a KeyPackage set
    /// completed before the device's KeyPackage was in it).
    pub(super) fn queue_device_joins(&mut self, room: usize) -> Result<(), SimError> {
        if self.added_devices.is_empty() {
            return Ok(());
        }
        let todo: Vec<(usize, usize)> = self
            .added_devices
            .iter()
            .copied()
            .filter(|&(d, _)| {
                !self.clients[d].groups.contains_key(&room)
                    && !self.device_joins.contains(&(room, d))
                    && self.sibling_in(room, d).is_some()
            })
            .collect();
        for (device, action) in todo {
            self.device_joins.insert((room, device));
            let outer = self.cause.replace(action);
            let op = Op::new(Some(action), device, [Step::DeviceJoin, Step::JoinExternal]);
            let result = self.enqueue(room, Queued::Op(Box::new(op)));
            self.cause = outer;
            result?;
        }
        Ok(())
    }

    /// Another client of `device`'s user that is in `room`, if any.
    fn sibling_in(&self, room: usize, device: usize) -> Option<usize> {
        let user = self.clients[device].user;
        self.users[user]
            .clients
            .iter()
            .copied()
            .find(|&c| c != device && self.clients[c].groups.contains_key(&room))
    }

    /// The first step of a device's join: it takes its user's name in the room and the room's
    /// wrapper key from a sibling there. If the device has been removed, is in the room
    /// already, or its user has left, there is nothing to do.
    pub(super) fn prepare_device_join(
        &mut self,
        room: usize,
        device: usize,
    ) -> Result<(), SimError> {
        self.device_joins.remove(&(room, device));
        let sibling = self
            .sibling_in(room, device)
            .filter(|_| !self.clients[device].removed)
            .filter(|_| !self.clients[device].groups.contains_key(&room));
        let Some(sibling) = sibling else {
            if let Some(op) = self.rooms[room].op.as_mut() {
                op.steps.clear();
            }
            return self.advance(room);
        };
        let name = self.own_name_in(sibling, room)?;
        let wrapper = self.clients[sibling].groups[&room].wrapper;
        let op = self.rooms[room]
            .op
            .as_mut()
            .expect("an operation is running");
        op.pseudonym = Some(name);
        op.wrapper = wrapper;
        self.step_done(room)
    }

    /// `remove_device`: device number `number` of `user` stops being one of its clients, its
    /// KeyPackages are deleted, and it leaves each room it is in (after the operation in
    /// flight there).
    pub(super) fn remove_device(&mut self, user: usize, number: u32) -> Result<(), SimError> {
        let u = &mut self.users[user];
        let client = u
            .devices
            .remove(&number)
            .ok_or_else(|| SimError::Protocol(format!("{} has no device {number}", u.name)))?;
        u.clients.retain(|&c| c != client);
        u.real_clients -= 1;
        u.set_turns.waiting.retain(|&(c, _)| c != client);
        for set in &mut u.sets {
            set.missing.remove(&client);
        }
        let (home, token) = (u.provider, u.token.clone());
        self.clients[client].removed = true;
        self.added_devices.retain(|&(c, _)| c != client);
        // It deletes its KeyPackages: those it keeps at its provider on its session, or its
        // share of the token-indexed sets (it knows their references).
        let key_package_refs = self.clients[client]
            .key_package_sets
            .keys()
            .map(|r| r.clone().into())
            .collect();
        if self.mech.anonymous_key_packages {
            let msg = Wire::KeyPackageDelete(wire::KeyPackageDelete {
                token: token.into(),
                key_package_refs,
            });
            self.send_anonymous(client, home, &msg);
        } else {
            let msg = Wire::KeyPackageDelete(wire::KeyPackageDelete {
                token: Vec::new().into(),
                key_package_refs,
            });
            self.client_to_home(client, &msg);
        }
        for room in 0..self.rooms.len() {
            let busy = self.rooms[room]
                .op
                .as_ref()
                .is_some_and(|op| op.actor == client);
            if busy || self.clients[client].groups.contains_key(&room) {
                let op = Op::new(self.cause, client, [Step::LeaveDevice]);
                self.enqueue(room, Queued::Op(Box::new(op)))?;
            }
        }
        Ok(())
    }

    /// A removed device entered `room` with a KeyPackage claimed before it deleted them: it
    /// leaves again, after the operation that added it.
    pub(super) fn leave_if_removed(&mut self, room: usize, device: usize) -> Result<(), SimError> {
        if !self.clients[device].removed {
            return Ok(());
        }
        let op = Op::new(self.cause, device, [Step::LeaveDevice]);
        self.enqueue(room, Queued::Op(Box::new(op)))
    }

    /// A removed device proposes its own removal from `room` (nothing to do if it is not in
    /// the room).
    pub(super) fn leave_device(&mut self, room: usize, device: usize) -> Result<(), SimError> {
        let Some(m) = self.clients[device].groups.get(&room) else {
            return self.step_done(room);
        };
        let own = m.group.own_leaf_index();
        self.propose_removals(room, device, vec![own])
    }
}
