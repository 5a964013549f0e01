"""Stage 5, show: the console summary, the HTML report, pictures drawn side by side, the shared plotting style and
plugin descriptions."""
