"""The simulator's recorded speech (simulator/audio/, see README.txt there): what a callee and the bot say, as
8 kHz mu-law, and the words in each."""
from pathlib import Path

AUDIO_DIR = Path(__file__).resolve().parent / "audio"
CALLEE_SPEECH = (AUDIO_DIR / "callee.ulaw").read_bytes()
BOT_SPEECH = (AUDIO_DIR / "bot.ulaw").read_bytes()
CALLEE_WORDS = "Hola, busco un piso en Madrid, cerca del centro. Mi presupuesto es de mil euros al mes."
BOT_WORDS = "Hola, le llamo de la inmobiliaria. ¿En qué zona busca vivienda?"
