"""Stage 5, show: the console summary, the HTML report and the shared plotting style."""
