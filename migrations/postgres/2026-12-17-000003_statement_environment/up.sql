-- The environment a statement was issued in, kept with it: a product that moves from the
-- sandbox to production later does not move its earlier statements on the overview's chart.
-- The statements issued before this migration take their product's environment as it is now.
ALTER TABLE issued_ssas ADD COLUMN environment TEXT NOT NULL DEFAULT 'sandbox';
UPDATE issued_ssas SET environment = (
    SELECT software.environment FROM software WHERE software.id = issued_ssas.software_id
) WHERE EXISTS (SELECT 1 FROM software WHERE software.id = issued_ssas.software_id);
