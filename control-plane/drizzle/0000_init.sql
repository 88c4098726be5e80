CREATE TABLE `audit` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` text NOT NULL,
	`actor` text NOT NULL,
	`action` text NOT NULL,
	`namespace` text NOT NULL,
	`name` text NOT NULL,
	`detail` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `audit_object` ON `audit` (`namespace`,`name`);--> statement-breakpoint
CREATE TABLE `counters` (
	`name` text PRIMARY KEY NOT NULL,
	`value` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `revisions` (
	`namespace` text NOT NULL,
	`name` text NOT NULL,
	`service` text NOT NULL,
	`uid` text NOT NULL,
	`config_generation` integer NOT NULL,
	`template_hash` text NOT NULL,
	`labels` text NOT NULL,
	`annotations` text NOT NULL,
	`spec` text NOT NULL,
	`status` text NOT NULL,
	`resource_version` integer NOT NULL,
	`created_at` text NOT NULL,
	PRIMARY KEY(`namespace`, `name`),
	FOREIGN KEY (`namespace`,`service`) REFERENCES `services`(`namespace`,`name`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `revisions_service` ON `revisions` (`namespace`,`service`,`config_generation`);--> statement-breakpoint
CREATE TABLE `services` (
	`namespace` text NOT NULL,
	`name` text NOT NULL,
	`uid` text NOT NULL,
	`generation` integer NOT NULL,
	`resource_version` integer NOT NULL,
	`labels` text NOT NULL,
	`annotations` text NOT NULL,
	`spec` text NOT NULL,
	`status` text NOT NULL,
	`config_generation` integer DEFAULT 0 NOT NULL,
	`created_at` text NOT NULL,
	PRIMARY KEY(`namespace`, `name`)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `services_uid` ON `services` (`uid`);