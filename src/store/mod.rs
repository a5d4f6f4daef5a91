//! Durable state in sled: the inbox, dedup keys and every tree that must survive a crash.
