-- /ready writes a row here inside a transaction it rolls back: proof that the database takes writes.
CREATE TABLE readiness_probe (
    id INTEGER PRIMARY KEY NOT NULL
);
