CREATE TABLE `acme_accounts` (
	`directory` text PRIMARY KEY NOT NULL,
	`url` text NOT NULL,
	`sealed_key` text NOT NULL,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `acme_certificates` (
	`domain` text PRIMARY KEY NOT NULL,
	`directory` text NOT NULL,
	`sealed` text NOT NULL,
	`serial` text NOT NULL,
	`not_before` text NOT NULL,
	`not_after` text NOT NULL,
	`issued_at` text NOT NULL
);
