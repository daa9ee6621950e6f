"""The household's year: identification and exit cases (识别/退出), with public notice."""
