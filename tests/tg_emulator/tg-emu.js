// The Telegram Bot API emulator of riskengine's bot tests: the npm package telegram-test-api
// (4.2.1, pinned in the repository's package.json) on 127.0.0.1, with the shims python-telegram-bot
// 22 needs.
//
//   node tests/tg_emulator/tg-emu.js PORT [--exit-on-stdin-eof]
//
// Prints "READY http://127.0.0.1:PORT" on stdout once it listens. Stops on SIGTERM or SIGINT, and
// with --exit-on-stdin-eof also when its stdin closes (so it dies with the test run that started it).
// The package is resolved from the repository root's node_modules: run `npm ci` there first.
//
// Added: sendPhoto (a multipart/form-data upload, or a file_id/URL string), kept apart from the text
// messages; the client API's POST /getPhotos {token, chatId} gives back each photo's caption, size and
// bytes (base64), oldest first. And POST /sendEditedMessage: a user's edit of a message they sent (a live
// location's new position), as an `edited_message` update.
//
// Webhooks as Telegram delivers them: setWebhook keeps `url` and `secret_token`, and each user update
// is then POSTed to the url with the header X-Telegram-Bot-Api-Secret-Token (the package's own webhook
// posts without it), each as it comes, without waiting for the webhook to answer the one before (Telegram
// keeps several connections open: a slow update does not hold up the next); getWebhookInfo and deleteWebhook
// answer as Telegram does. The client API's POST /redeliverLast {botToken} posts the last delivered
// update again (Telegram redelivers when a worker answers late), and POST /getDeliveries {botToken}
// lists each delivery's update_id, HTTP status (null while it is in flight) and whether it was a
// redelivery.
'use strict';
const path = require('path');
const { createRequire } = require('module');

const ROOT = path.resolve(__dirname, '..', '..');
const fromRoot = createRequire(path.join(ROOT, 'package.json'));
let TelegramServer;
let routes;
let express;
try {
  TelegramServer = fromRoot('telegram-test-api');
  ({ routes } = fromRoot('telegram-test-api/lib/routes/index'));
  express = fromRoot('express');
} catch (err) {
  console.error(`START FAILED telegram-test-api is not installed in ${ROOT}/node_modules: run \`npm ci\` there (${err.code || err})`);
  process.exit(1);
}

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node tg-emu.js PORT [--exit-on-stdin-eof]');
  process.exit(2);
}

const BOT = { id: 777000111, is_bot: true, first_name: 'Riskengine Test Bot', username: 'riskengine_test_bot' };

// Bot API methods the emulator lacks or answers with a body PTB rejects: acknowledge them.
const ACKNOWLEDGED = ['setMyCommands', 'deleteMyCommands', 'setMyDescription', 'setMyShortDescription',
  'setChatMenuButton', 'sendChatAction', 'answerCallbackQuery', 'close', 'logOut'];

// A stored bot message as a Bot API Message: `date` in seconds, the bot as sender, inline keyboards only.
function asMessage(stored, messageId) {
  const m = stored.message;
  const out = {
    message_id: messageId,
    date: Math.floor(stored.time / 1000),
    from: BOT,
    chat: { id: Number(m.chat_id), type: 'private', first_name: 'User' },
    text: m.text,
  };
  if (Array.isArray(m.entities)) out.entities = m.entities;
  if (m.reply_markup && m.reply_markup.inline_keyboard) out.reply_markup = m.reply_markup;
  return out;
}

// multipart/form-data (how python-telegram-bot uploads a file): the parts of a body, by field name, as
// {filename, type, data: Buffer}. Enough for the Bot API's uploads; not a general MIME parser.
function multipartParts(body, contentType) {
  const match = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType || '');
  if (!match || !Buffer.isBuffer(body)) return {};
  const delimiter = Buffer.from(`--${match[1] || match[2]}`);
  const parts = {};
  let start = body.indexOf(delimiter);
  while (start !== -1) {
    const headStart = start + delimiter.length;
    if (body.slice(headStart, headStart + 2).toString() === '--') break; // the closing delimiter
    const headEnd = body.indexOf('\r\n\r\n', headStart);
    if (headEnd === -1) break;
    const next = body.indexOf(delimiter, headEnd + 4);
    if (next === -1) break;
    const head = body.slice(headStart, headEnd).toString('utf8');
    const name = /name="([^"]*)"/i.exec(head);
    if (name) {
      const filename = /filename="([^"]*)"/i.exec(head);
      const type = /content-type:\s*([^\r\n]+)/i.exec(head);
      parts[name[1]] = { filename: filename ? filename[1] : null, type: type ? type[1].trim() : null,
        data: body.slice(headEnd + 4, next - 2) }; // the part ends with CRLF before the next delimiter
    }
    start = next;
  }
  return parts;
}

// Photos the bot sent (sendPhoto), kept apart from its text messages so that tests reading the bot's
// messages see text only: each with the chat, caption, the uploaded bytes' size, their first 64 bytes
// (base64: a PNG's signature and IHDR, i.e. its width and height) and all of them (base64).
const photos = [];
let nextPhotoId = 1000000;

// Webhooks by bot token: {url, secretToken, allowedUpdates}; the last update delivered to each, and
// every delivery's outcome.
const webhooks = {};
const lastDelivered = {};
const deliveries = [];

async function postUpdate(token, body, redelivery) {
  const hook = webhooks[token];
  const headers = { 'Content-Type': 'application/json' };
  if (hook.secretToken) headers['X-Telegram-Bot-Api-Secret-Token'] = hook.secretToken;
  // recorded as it starts (status null until the webhook answers): its handler may answer the user first
  const delivery = { botToken: token, update_id: body.update_id, status: null, redelivery, time: Date.now() };
  deliveries.push(delivery);
  try {
    const res = await fetch(hook.url, { method: 'POST', headers, body: JSON.stringify(body) });
    delivery.status = res.status;
    await res.arrayBuffer();
  } catch (err) {
    delivery.status = 0;
    console.error(`webhook delivery of update ${body.update_id} failed: ${err}`);
  }
  return delivery.status;
}

// Registered before the package's own routes, so these answer first.
routes.unshift((app, server) => {
  app.all('/bot:token/setWebhook', (req, res) => {
    const params = { ...(req.query || {}), ...(req.body || {}) };
    if (!params.url) {
      return res.status(400).json({ ok: false, error_code: 400, description: 'Bad Request: bad webhook: URL is empty' });
    }
    webhooks[req.params.token] = { url: String(params.url), secretToken: params.secret_token || null,
      allowedUpdates: params.allowed_updates || null };
    return res.json({ ok: true, result: true, description: 'Webhook was set' });
  });
  app.all('/bot:token/deleteWebhook', (req, res) => {
    delete webhooks[req.params.token];
    res.json({ ok: true, result: true, description: 'Webhook was deleted' });
  });
  app.all('/bot:token/getWebhookInfo', (req, res) => {
    const hook = webhooks[req.params.token];
    res.json({ ok: true, result: { url: hook ? hook.url : '', has_custom_certificate: false, pending_update_count: 0 } });
  });
  app.post('/redeliverLast', async (req, res) => {
    const token = (req.body || {}).botToken;
    if (!webhooks[token] || !lastDelivered[token]) {
      return res.status(400).json({ ok: false, description: 'no webhook set, or nothing delivered yet' });
    }
    const status = await postUpdate(token, lastDelivered[token], true);
    return res.json({ ok: true, result: { update_id: lastDelivered[token].update_id, status } });
  });
  app.post('/getDeliveries', (req, res) => {
    const token = (req.body || {}).botToken;
    res.json({ ok: true, result: deliveries.filter((d) => d.botToken === token) });
  });
  app.all('/bot:token/sendPhoto', express.raw({ type: 'multipart/form-data', limit: '20mb' }), (req, res) => {
    let fields = req.body || {};
    let data = null;
    if (Buffer.isBuffer(req.body)) {
      const parts = multipartParts(req.body, req.headers['content-type']);
      fields = {};
      for (const [name, part] of Object.entries(parts)) {
        if (part.filename !== null) data = part.data;
        else fields[name] = part.data.toString('utf8');
      }
    }
    if (fields.chat_id === undefined || (data === null && !fields.photo)) {
      return res.status(400).json({ ok: false, error_code: 400, description: 'Bad Request: there is no photo in the request' });
    }
    const messageId = nextPhotoId++;
    const size = data ? data.length : 0;
    photos.push({ botToken: req.params.token, chatId: String(fields.chat_id), messageId,
      caption: fields.caption === undefined ? null : fields.caption, parseMode: fields.parse_mode || null,
      size, head: data ? data.slice(0, 64).toString('base64') : null,
      data: data ? data.toString('base64') : null, photo: data ? null : String(fields.photo), time: Date.now() });
    const message = { message_id: messageId, date: Math.floor(Date.now() / 1000), from: BOT,
      chat: { id: Number(fields.chat_id), type: 'private', first_name: 'User' },
      photo: [{ file_id: `photo${messageId}`, file_unique_id: `p${messageId}`, width: 1080, height: 1350,
        file_size: size }] };
    if (fields.caption !== undefined) message.caption = fields.caption;
    return res.json({ ok: true, result: message });
  });
  // The client API's view of them: {token, chatId} -> the photos sent to that chat, oldest first.
  app.post('/getPhotos', (req, res) => {
    const { token, chatId } = req.body || {};
    res.json({ ok: true, result: photos.filter((p) => p.botToken === token
      && (chatId === undefined || p.chatId === String(chatId))) });
  });
  // A user's edit of a message they sent (a live location's new position): the client API's
  // POST /sendEditedMessage {botToken, message_id, ...the message as it is now} -> an `edited_message` update.
  app.post('/sendEditedMessage', async (req, res) => {
    const body = req.body || {};
    if (!body.botToken || body.message_id === undefined) {
      return res.status(400).json({ ok: false, description: 'botToken and message_id are required' });
    }
    const { botToken, message_id: editedId, ...message } = body;
    await server.addUserUpdate({ ...server.getCommonFields(botToken), editedMessage: message, editedId });
    return res.json({ ok: true, result: null });
  });
  app.all('/bot:token/getMe', (req, res) => res.json({ ok: true, result: BOT }));
  app.all('/bot:token/getMyCommands', (req, res) => res.json({ ok: true, result: [] }));
  for (const method of ACKNOWLEDGED) {
    app.all(`/bot:token/${method}`, (req, res) => res.json({ ok: true, result: true }));
  }
  // Edits: the package answers `result: null`; PTB wants the edited message back.
  for (const method of ['editMessageText', 'editMessageReplyMarkup']) {
    app.all(`/bot:token/${method}`, (req, res) => {
      server[method](req.body);
      const stored = server.storage.botMessages.find((u) => u.botToken === req.params.token
        && String(u.messageId) === String(req.body.message_id)
        && String(u.message.chat_id) === String(req.body.chat_id));
      if (!stored) {
        return res.status(400).json({ ok: false, error_code: 400, description: 'Bad Request: message to edit not found' });
      }
      return res.json({ ok: true, result: asMessage(stored, stored.messageId) });
    });
  }
});

const server = new TelegramServer({ port, host: '127.0.0.1', storeTimeout: 3600 });

// A user's update: to the bot's webhook when one is set (with the secret token), else kept for getUpdates.
const addUserUpdate = server.addUserUpdate.bind(server);
server.addUserUpdate = async (update) => {
  const token = update.botToken;
  if (!webhooks[token]) return addUserUpdate(update);
  const body = TelegramServer.formatUpdate(update);
  server.updateId++;
  lastDelivered[token] = body;
  postUpdate(token, body, false); // never rejects: a failed delivery is recorded with status 0
  return undefined;
};

// sendMessage: answer with a Message PTB can parse.
const addBotMessage = server.addBotMessage.bind(server);
server.addBotMessage = (raw, token) => {
  const sent = addBotMessage(raw, token);
  const stored = server.storage.botMessages[server.storage.botMessages.length - 1];
  return asMessage(stored, sent.message_id);
};

// PTB requires callback_query.chat_instance, which the package leaves out.
const formatUpdate = TelegramServer.formatUpdate;
TelegramServer.formatUpdate = (update) => {
  if ('editedMessage' in update) {
    return { update_id: update.updateId, edited_message: { ...update.editedMessage, message_id: Number(update.editedId) } };
  }
  const out = formatUpdate(update);
  if (out.callback_query) {
    const query = update.callbackQuery;
    const chat = query.message && query.message.chat;
    out.callback_query.chat_instance = String(query.chat_instance || (chat && chat.id) || 0);
  }
  return out;
};

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(0), 3000).unref();
  server.stop().finally(() => process.exit(0));
}

server.start().then(
  () => console.log(`READY ${server.config.apiURL}`),
  (err) => { console.error(`START FAILED ${err}`); process.exit(1); },
);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (process.argv.includes('--exit-on-stdin-eof')) {
  process.stdin.on('end', stop);
  process.stdin.resume();
}
