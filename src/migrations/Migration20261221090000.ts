import { Migration } from '@mikro-orm/migrations';

/**
 * Issue 13, webhooks per channel config: a reply received through a tenant's own config records that config
 * (`inbound_message.channel_config_id`, null = the service-wide number); its tenant is the config's.
 */
export class Migration20261221090000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "inbound_message" add column "channel_config_id" uuid null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "inbound_message" drop column if exists "channel_config_id";`);
  }
}
