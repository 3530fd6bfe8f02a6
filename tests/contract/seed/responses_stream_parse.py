import os
from openai import OpenAI
client = OpenAI(
api_key=os.getenv("DASHSCOPE_API_KEY"),
base_url=os.environ["SEED_BASE_URL"]
)
response = client.responses.create(
model="qwen3-max-2026-01-23",
input="12 to the power of 3",
tools=[
{"type": "code_interpreter"}
],
extra_body={
"enable_thinking": True
},
stream=True
)
def print_section(title):
    print(f"\n{'=' * 20}{title}{'=' * 20}")
current_section = None
final_response = None
for event in response:
    # Output inkremental untuk proses reasoning
    if event.type == "response.reasoning_summary_text.delta":
        if current_section != "reasoning":
            print_section("Reasoning Process")
            current_section = "reasoning"
        print(event.delta, end="", flush=True)
    # Pemanggilan code interpreter selesai
    elif event.type == "response.output_item.done" and hasattr(event.item, "code"):
        print_section("Code Execution")
        print(f"Code:\n{event.item.code}")
        if event.item.outputs:
            print(f"Result: {event.item.outputs[0].logs}")
        current_section = "code"
    # Output inkremental untuk balasan akhir
    elif event.type == "response.output_text.delta":
        if current_section != "answer":
            print_section("Full Reply")
            current_section = "answer"
        print(event.delta, end="", flush=True)
    # Respons selesai. Simpan hasil akhir untuk mendapatkan data penggunaan.
    elif event.type == "response.completed":
        final_response = event.response
# Tampilkan konsumsi token dan jumlah pemanggilan tool.
if final_response and final_response.usage:
    print_section("Token Consumption and Tool Calls")
    usage = final_response.usage
    print(f"Input Tokens: {usage.input_tokens}")
    print(f"Output Tokens: {usage.output_tokens}")
    print(f"Reasoning Tokens: {usage.output_tokens_details.reasoning_tokens}")
    print(f"Code interpreter calls: {usage.x_tools.get('code_interpreter', {}).get('count', 0)}")
