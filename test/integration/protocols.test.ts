import { protocolSuite } from './protocol-suite.ts';

protocolSuite('reuseport', false);
protocolSuite('reuseport', true);
protocolSuite('acceptor', false);
protocolSuite('acceptor', true);
protocolSuite('reuseport', false, 'pooled');
protocolSuite('reuseport', true, 'pooled');
