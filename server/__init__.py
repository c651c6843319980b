"""Request handling, identity, guard, audit and the database runtime."""
