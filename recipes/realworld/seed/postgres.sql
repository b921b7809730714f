-- The product catalogue: PostgreSQL is the system of record for names and prices.
-- Run with psql from the recipe directory (\copy reads the CSV next to it).
\set ON_ERROR_STOP on
DROP SCHEMA IF EXISTS catalog CASCADE;
CREATE SCHEMA catalog;
CREATE TABLE catalog.products (
    sku         text PRIMARY KEY,
    name        text NOT NULL,
    price_cents integer NOT NULL CHECK (price_cents > 0),
    on_hand     integer NOT NULL CHECK (on_hand >= 0)
);
\copy catalog.products (sku, name, price_cents, on_hand) FROM 'seed/catalog.csv' WITH (FORMAT csv, HEADER true)
SELECT count(*) AS products FROM catalog.products;
