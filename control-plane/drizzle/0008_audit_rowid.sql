PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_audit` (
	`id` integer PRIMARY KEY NOT NULL,
	`at` text NOT NULL,
	`actor` text NOT NULL,
	`action` text NOT NULL,
	`namespace` text NOT NULL,
	`name` text NOT NULL,
	`detail` text NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_audit`("id", "at", "actor", "action", "namespace", "name", "detail") SELECT "id", "at", "actor", "action", "namespace", "name", "detail" FROM `audit`;--> statement-breakpoint
DROP TABLE `audit`;--> statement-breakpoint
ALTER TABLE `__new_audit` RENAME TO `audit`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `audit_object` ON `audit` (`namespace`,`name`);