// Package ledger owns everything about money and keys in Tollgate: accounts,
// inference and management keys, prepaid credits, per-key limits,
// reservations and settled spend, generation records and usage rollups, all
// stored in a local Pebble database, plus the replicated (CRDT) form of that
// state and its merge.
//
// Imported by core (the HTTP API and the request pipeline) and wired to the
// cluster package by cmd; ledger itself imports no other Tollgate package.
//
// # Money
//
// Money is an int64 count of nano-USD (1 USD = 1e9) everywhere. An account's
// balance is Σ grants − Σ settled spend − Σ outstanding reservations.
//
// # Hot path
//
// Authenticate hashes the presented secret with SHA-256 and looks the hash up
// in an in-memory index. Reserve takes the request's maximum cost out of the
// balance (and the key's limit) in memory; Settle replaces the reservation
// with the real cost and hands the generation record to a group-commit
// writer, so no fsync sits on the response path. A Reservation can be closed
// once: a second Settle or Release is a no-op, so a request is never charged
// twice.
//
// # Durability
//
// Grants, accounts and key changes are synced to Pebble before the call
// returns. Spend, generation records and rollups are committed by the group
// writer: with Durability "group" a crash may lose what was settled during
// the last GroupWindow plus one fsync (see Config.GroupWindow); it never
// loses an acknowledged grant or key change, and the persisted spend of an
// account always equals the sum of the costs of its persisted generation
// records, because both are written in the same batch.
//
// # Replication
//
// Grants form a grow-only map keyed by (account, idempotency key); spend and
// key usage are grow-only counters per (node, epoch) merged by max; account
// and key records are last-writer-wins registers ordered by hybrid logical
// clock versions. Every Open starts a new epoch, so a restarted node never
// reuses the counter identity of its previous life. Deltas, Merge, Digest,
// StateSince and MergeState are what the cluster package carries.
package ledger
