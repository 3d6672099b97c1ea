// The Telegram Bot API emulator of riskengine's bot tests: the npm package telegram-test-api
// (4.2.1, pinned in the repository's package.json) on 127.0.0.1, with the shims python-telegram-bot
// 22 needs.
//
//   node tests/tg_emulator/tg-emu.js PORT [--exit-on-stdin-eof]
//
// Prints "READY http://127.0.0.1:PORT" on stdout once it listens. Stops on SIGTERM or SIGINT, and
// with --exit-on-stdin-eof also when its stdin closes (so it dies with the test run that started it).
// The package is resolved from the repository root's node_modules: run `npm ci` there first.
'use strict';
const path = require('path');
const { createRequire } = require('module');

const ROOT = path.resolve(__dirname, '..', '..');
const fromRoot = createRequire(path.join(ROOT, 'package.json'));
let TelegramServer;
let routes;
try {
  TelegramServer = fromRoot('telegram-test-api');
  ({ routes } = fromRoot('telegram-test-api/lib/routes/index'));
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

// Registered before the package's own routes, so these answer first.
routes.unshift((app, server) => {
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
