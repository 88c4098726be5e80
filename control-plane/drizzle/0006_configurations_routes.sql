CREATE TABLE `routes` (
	`namespace` text NOT NULL,
	`name` text NOT NULL,
	`uid` text NOT NULL,
	`generation` integer NOT NULL,
	`resource_version` integer NOT NULL,
	`labels` text NOT NULL,
	`annotations` text NOT NULL,
	`spec` text NOT NULL,
	`status` text NOT NULL,
	`created_at` text NOT NULL,
	`managed_fields` text DEFAULT '[]' NOT NULL,
	PRIMARY KEY(`namespace`, `name`)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `routes_uid` ON `routes` (`uid`);--> statement-breakpoint
ALTER TABLE `services` ADD `kind` text DEFAULT 'Service' NOT NULL;