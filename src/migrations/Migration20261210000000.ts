import { Migration } from '@mikro-orm/migrations';

/**
 * WhatsApp's 24-hour customer service window: every free-form WhatsApp send looks up the customer's last reply to
 * the sender (service-window.ts), so inbound messages are indexed by channel, sender number and time.
 */
export class Migration20261210000000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create index if not exists "inbound_message_channel_from_received_at_index" on "inbound_message" ("channel", "from", "received_at");`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "inbound_message_channel_from_received_at_index";`);
  }
}
