-- A project marked a template (update_project {template: true}) is listed by
-- list_projects {template: true}; create_project {from} copies any readable project's tree.
ALTER TABLE projects ADD COLUMN template boolean NOT NULL DEFAULT false;
CREATE INDEX projects_template_idx ON projects (name) WHERE template AND deleted_at IS NULL;
