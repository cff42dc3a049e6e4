import { Channel, type RenderedContent } from '../entities';
import type { ChannelPayloads, PushTarget } from '../providers/provider.types';

/** Push addresses are a device token, `topic:<name>` or `condition:<expression>`. */
function pushTarget(to: string): PushTarget {
  if (to.startsWith('topic:')) return { topic: to.slice('topic:'.length) };
  if (to.startsWith('condition:')) return { condition: to.slice('condition:'.length) };
  return { token: to };
}

/** What a channel's provider is handed for a rendered message. */
export function payloadFor(
  channel: Channel,
  to: string,
  content: RenderedContent,
  headers?: Record<string, string>,
): ChannelPayloads[Channel] {
  switch (channel) {
    case Channel.EMAIL:
      return { to, subject: content.subject ?? '', text: content.text, html: content.html, headers };
    case Channel.SMS:
      return { to, body: content.body ?? content.text ?? '', mediaUrls: content.mediaUrls };
    case Channel.WHATSAPP:
      return {
        to,
        body: content.body ?? content.text ?? '',
        mediaUrls: content.mediaUrls,
        template: content.whatsappTemplate ?? null,
      };
    case Channel.PUSH:
      return {
        target: pushTarget(to),
        title: content.title,
        body: content.body,
        imageUrl: content.imageUrl,
        data: content.data,
      };
  }
}
