"""The live call: the media-stream consumer, Twilio frames, the Realtime client and the relay."""
