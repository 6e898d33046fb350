"""spark-stack simulator: render the chart with the real Helm engine, bring the stack up, check it."""
