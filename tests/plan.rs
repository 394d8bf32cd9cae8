//! `runbook plan`: every step in order with its resolved request, no network.
