CREATE TABLE `events` (
	`resource_version` integer PRIMARY KEY NOT NULL,
	`resource` text NOT NULL,
	`type` text NOT NULL,
	`namespace` text NOT NULL,
	`name` text NOT NULL,
	`object` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_object` ON `events` (`resource`,`namespace`,`name`);