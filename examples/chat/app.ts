// A chat with rooms over WebSockets, on HTTP/1.1 and HTTP/2 alike. Each socket lives on the
// pinned worker that holds its connection; a message published to a room reaches every socket
// subscribed to it, on every worker. The page at / is a minimal client.
// Run: npx fasterapi serve examples/chat/app.ts, then open http://localhost:8000/ in two tabs
//
//   curl -s -X POST localhost:8000/rooms/lobby/announce -d 'hello from curl'
import { App, HttpError, reply } from 'fasterapi';

const app = new App();

interface Member {
  readonly name: string;
  readonly room: string;
}

app.ws<Member>('/rooms/:room', {
  // Before the handshake is answered: refuse what you would not serve.
  upgrade(req) {
    const name = req.query['name'];
    if (typeof name !== 'string' || !/^[\w-]{1,32}$/.test(name)) throw new HttpError(400, 'pick a name: ?name=letters-digits');
  },
  open(ws, req) {
    ws.data = { name: String(req.query['name']), room: ws.params['room'] as string };
    ws.subscribe(`room:${ws.data.room}`);
    ws.publish(`room:${ws.data.room}`, `* ${ws.data.name} joined`);
    ws.send(`welcome to ${ws.data.room}, ${ws.data.name} (worker ${ws.isolate.index}, ${ws.transport})`);
  },
  message(ws, data, isBinary) {
    if (isBinary) return ws.close(1003, 'text only');
    ws.publish(`room:${ws.data.room}`, `${ws.data.name}: ${String(data).slice(0, 500)}`);
  },
  close(ws) {
    app.publish(`room:${ws.data.room}`, `* ${ws.data.name} left`);
  },
}, { maxPayload: 4096, idleTimeout: 60_000, compression: true });

// Any handler can publish: here, an announcement from plain HTTP.
app.post('/rooms/:room/announce', async (req) => {
  app.publish(`room:${req.params.room}`, `[announcement] ${(await req.text()).slice(0, 500)}`);
  return reply(null, { status: 204 });
});

app.get('/', () => reply(PAGE, { headers: { 'content-type': 'text/html; charset=utf-8' } }));

const PAGE = `<!doctype html><meta charset="utf-8"><title>chat</title>
<pre id="log"></pre><input id="say" placeholder="say something" autofocus>
<script>
const name = 'guest-' + Math.floor(Math.random() * 1000);
const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/rooms/lobby?name=' + name);
const log = (line) => (document.getElementById('log').textContent += line + '\\n');
ws.onmessage = (e) => log(e.data);
ws.onclose = (e) => log('closed ' + e.code);
document.getElementById('say').onkeydown = (e) => {
  if (e.key === 'Enter' && e.target.value) { ws.send(e.target.value); e.target.value = ''; }
};
</script>`;

export default app;
