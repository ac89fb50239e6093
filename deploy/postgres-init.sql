-- Runs once, when the compose PostgreSQL volume is first created: a separate database and
-- role for the orderflow store (Temporal keeps its own `temporal` databases).
CREATE ROLE orderflow LOGIN PASSWORD 'orderflow';
CREATE DATABASE orderflow OWNER orderflow;
