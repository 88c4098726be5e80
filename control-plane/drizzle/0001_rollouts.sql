CREATE TABLE `rollouts` (
	`namespace` text NOT NULL,
	`name` text NOT NULL,
	`state` text NOT NULL,
	`updated_at` text NOT NULL,
	PRIMARY KEY(`namespace`, `name`),
	FOREIGN KEY (`namespace`,`name`) REFERENCES `services`(`namespace`,`name`) ON UPDATE no action ON DELETE cascade
);
