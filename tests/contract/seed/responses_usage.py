# Impor dependensi dan buat klien...
import os
from openai import OpenAI
client = OpenAI(api_key=os.getenv("DASHSCOPE_API_KEY"), base_url=os.environ["SEED_BASE_URL"])
response = client.responses.create(
model="qwen3-max-2026-01-23",
input="Berapa 123 pangkat 21?",
tools=[
{"type": "code_interpreter"},
{"type": "web_search"},
{"type": "web_extractor"},
],
extra_body={
"enable_thinking": True
}
)
print(response.output_text)
