import { CapAction, CapPeriod, Channel, NotificationCategory, Priority } from '../entities';
import type { NotificationTypeCommand } from './notification-type.service';

/**
 * Example types the sandbox starts with, so a newcomer can send at once. They are created once (never overwritten)
 * for the development tenant; templates are Liquid over the send's `data`.
 */
export const STARTER_TYPES: NotificationTypeCommand[] = [
  {
    key: 'financial_alert',
    name: 'Financial alert',
    description: 'Unusual account activity; goes out even in quiet hours when sent as CRITICAL',
    category: NotificationCategory.TRANSACTIONAL,
    defaultPriority: Priority.HIGH,
    defaultChannels: [Channel.SMS, Channel.PUSH],
    fallbackChannels: [Channel.EMAIL],
    templates: [
      { channel: Channel.SMS, body: 'Alert: {{ data.message }}' },
      { channel: Channel.PUSH, title: 'Account alert', body: '{{ data.message }}' },
      { channel: Channel.EMAIL, subject: 'Account alert', text: '{{ data.message }}' },
    ],
  },
  {
    key: 'payment_reminder',
    name: 'Payment reminder',
    category: NotificationCategory.TRANSACTIONAL,
    defaultPriority: Priority.MEDIUM,
    defaultChannels: [Channel.EMAIL, Channel.SMS],
    templates: [
      {
        channel: Channel.EMAIL,
        subject: 'Payment of {{ data.amount }} due {{ data.dueDate }}',
        text: 'Your payment of {{ data.amount }} is due on {{ data.dueDate }}.',
      },
      {
        channel: Channel.EMAIL,
        locale: 'pt-BR',
        subject: 'Pagamento de {{ data.amount }} vence em {{ data.dueDate }}',
        text: 'Seu pagamento de {{ data.amount }} vence em {{ data.dueDate }}.',
      },
      { channel: Channel.SMS, body: 'Reminder: {{ data.amount }} is due on {{ data.dueDate }}.' },
      {
        channel: Channel.SMS,
        locale: 'pt',
        body: 'Lembrete: {{ data.amount }} vence em {{ data.dueDate }}.',
      },
    ],
  },
  {
    key: 'weekly_checkin',
    name: 'Weekly check-in',
    category: NotificationCategory.MARKETING,
    defaultPriority: Priority.LOW,
    defaultChannels: [Channel.PUSH, Channel.EMAIL],
    frequencyCap: { limit: 1, period: CapPeriod.WEEK, action: CapAction.SUPPRESS },
    templates: [
      {
        channel: Channel.PUSH,
        title: 'How was your week, {{ data.name }}?',
        body: 'Take a minute to check in.',
      },
      {
        channel: Channel.EMAIL,
        subject: 'How was your week, {{ data.name }}?',
        text: 'Take a minute to check in.',
      },
    ],
  },
  {
    key: 'monthly_report',
    name: 'Monthly report',
    category: NotificationCategory.MARKETING,
    defaultPriority: Priority.LOW,
    defaultChannels: [Channel.EMAIL],
    templates: [
      {
        channel: Channel.EMAIL,
        subject: 'Your {{ data.month }} report',
        text: 'Your report for {{ data.month }} is ready: {{ data.url }}',
        html: '<p>Your report for {{ data.month | escape }} is ready: <a href="{{ data.url | escape }}">view it</a>.</p>',
      },
    ],
  },
  {
    key: 'educational_content',
    name: 'Educational content',
    category: NotificationCategory.MARKETING,
    defaultPriority: Priority.LOW,
    defaultChannels: [Channel.EMAIL, Channel.PUSH],
    frequencyCap: { limit: 2, period: CapPeriod.DAY, action: CapAction.DEFER },
    templates: [
      { channel: Channel.EMAIL, subject: '{{ data.title }}', text: '{{ data.summary }}' },
      { channel: Channel.PUSH, title: '{{ data.title }}', body: '{{ data.summary }}' },
    ],
  },
  {
    key: 'consent_verification',
    name: 'Consent verification code',
    description: 'Double opt-in codes for SMS and WhatsApp consent',
    category: NotificationCategory.TRANSACTIONAL,
    defaultPriority: Priority.CRITICAL,
    defaultChannels: [Channel.SMS],
    templates: [
      {
        channel: Channel.SMS,
        body: 'Your verification code is {{ data.code }}. It expires in {{ data.minutes }} minutes.',
      },
      {
        channel: Channel.WHATSAPP,
        body: 'Your verification code is {{ data.code }}. It expires in {{ data.minutes }} minutes.',
      },
    ],
  },
];
