-- Subscribes a server to the live-update hints other transactions published (migration 0155).
LISTEN bizctx_live
