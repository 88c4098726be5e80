CREATE TABLE `domain_mappings` (
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
	PRIMARY KEY(`namespace`, `name`)
);
--> statement-breakpoint
CREATE INDEX `domain_mappings_name` ON `domain_mappings` (`name`);